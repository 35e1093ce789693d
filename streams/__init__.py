"""Stream processing: the Faust app and agents, around the pure core in ``streams.core``."""
