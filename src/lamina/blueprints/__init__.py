"""Blueprints: ready projects `lamina init` writes (code, a SAM template.yaml, test events and a
README), from the classic examples and from the projects of the Lambda guide's blueprint list."""
