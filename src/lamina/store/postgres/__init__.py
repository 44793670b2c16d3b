"""PostgreSQL adapters of the store ports: state several Lamina servers share (see database.py)."""
