"""Use cases: commands on the aggregates, and the ports that infrastructure implements."""
