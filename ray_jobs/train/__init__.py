"""The training stage: Ray Tune + Optuna per model family, MLflow tracking and registry
(`python -m ray_jobs.train`)."""
