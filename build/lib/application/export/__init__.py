"""Export to Jira: the gateway port, the pre-flight checks and the resumable export run."""
