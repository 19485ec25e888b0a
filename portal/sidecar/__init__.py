"""The sidecar process: the schedule loop and its housekeeping job."""
