"""Ticket drafting: the drafter port, the offline generator and the generation run."""
