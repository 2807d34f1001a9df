"""What every job and the serving app share: settings, errors, S3, MLflow, Ray, CLI."""
