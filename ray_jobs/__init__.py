"""Ray jobs (one CLI module each) and the settings, S3 and MLflow helpers they share."""
