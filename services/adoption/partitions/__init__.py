"""The events' monthly partitions: made ahead, dropped past the retention."""
