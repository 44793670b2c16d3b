"""Schedules that fire from the clock: the firing engine shared by EventBridge schedule rules and
EventBridge Scheduler schedules, and the Scheduler itself."""
