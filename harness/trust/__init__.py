"""What makes a run auditable and billable: confidence calibration, the hash-chained audit trail, FHIR billing
output, and the one redaction rule all of them use.
"""
