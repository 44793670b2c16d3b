"""Running one Lamina on several processes: workers on one port (`--workers`), Ray nodes later."""
