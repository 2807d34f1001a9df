"""The ETL stage: raw CSVs -> validated, cleaned, split Parquet (`python -m ray_jobs.etl`)."""
