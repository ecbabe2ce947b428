"""Qt glue without widgets: worker bridge, thumbnail service, watcher bridge."""
