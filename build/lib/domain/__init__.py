"""The ticketforge domain: aggregates, their events and invariants. No I/O here."""
