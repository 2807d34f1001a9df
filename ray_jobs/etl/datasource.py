"""The Ray Data datasource of the raw CSVs (ray 2.60): `ray_jobs.etl.csv_source` per file.

Imported only after `ray_jobs.core.cluster.connect` (it imports Ray).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from ray.data.datasource import FileBasedDatasource

from ray_jobs.etl.csv_source import BLOCK_BYTES, FileLayout, read_blocks


class RawCsvDatasource(FileBasedDatasource):
    """Reads the files of `layouts` (keyed by their path on `filesystem`) into BLOCK_SCHEMA."""

    def __init__(
        self, layouts: dict[str, FileLayout], filesystem: Any, block_bytes: int = BLOCK_BYTES
    ) -> None:
        super().__init__(list(layouts), filesystem=filesystem)
        self._layouts = layouts
        self._block_bytes = block_bytes

    def _read_stream(self, f: pa.NativeFile, path: str) -> Iterator[pa.Table]:
        yield from read_blocks(f, path, self._layouts[path], self._block_bytes)
