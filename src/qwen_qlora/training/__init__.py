"""Training: the SFT trainer on TRL, health checks that stop a run that cannot learn, resume, multi-process launch."""
