package com.amazonaws.services.lambda.runtime.logging;

/** Levels of the JSON log format; UNDEFINED when a line names none. */
public enum LogLevel {
    UNDEFINED,
    TRACE,
    DEBUG,
    INFO,
    WARN,
    ERROR,
    FATAL;

    public static LogLevel fromString(String name) {
        try {
            return LogLevel.valueOf(name.toUpperCase());
        } catch (Exception e) {
            throw new IllegalArgumentException("Invalid log level: '" + name + "'");
        }
    }
}
