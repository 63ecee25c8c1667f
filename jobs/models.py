# Background jobs: the outbox and the record of expiry sweeps.
