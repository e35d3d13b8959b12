"""Large delimited files streamed by Arrow: the wanted columns as text, block by block, with the physical line of
each block, and a clear error naming the first line of a block Arrow cannot read.

Shared by the readers of files too large to decode in one piece (the BPE, the Filosofi grid, GTFS
``stop_times.txt``): the columns are named ``c0``, ``c1``… (the header is mapped by the caller, who read it first),
only ``keep`` is converted, always as strings (the caller casts, and names the line and column of a bad value).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import IO

import pyarrow as pa
from pyarrow import csv as pacsv


def open_text_columns(stream: IO[bytes], *, columns: int, keep: Iterable[int], sep: str, encoding: str,
                      block_bytes: int) -> tuple[pacsv.CSVStreamingReader, list[str]]:
    """A streaming reader of ``stream`` (header line skipped) converting the columns ``keep`` (their indexes) to
    strings, and the names of every column (``c<index>``)."""
    names = [f"c{i}" for i in range(columns)]
    used = sorted(set(keep))
    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, encoding=encoding, block_size=block_bytes),
        parse_options=pacsv.ParseOptions(delimiter=sep, quote_char='"', double_quote=True, newlines_in_values=False,
                                         ignore_empty_lines=True),
        convert_options=pacsv.ConvertOptions(include_columns=[names[i] for i in used],
                                             column_types={names[i]: pa.string() for i in used},
                                             strings_can_be_null=False),
    )
    return reader, names


def blocks(reader: pacsv.CSVStreamingReader,
           malformed: Callable[[BaseException, int], Exception]) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Each non-empty block with the physical line of its first row (the header is line 1). A block Arrow
    cannot read (wrong field count, bad encoding) raises ``malformed(exc, line)``, ``line`` being the first line
    of that block (Arrow does not say which row failed)."""
    done = 0
    while True:
        try:
            block = reader.read_next_batch()
        except StopIteration:
            return
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise malformed(exc, done + 2) from None
        if block.num_rows == 0:
            continue
        yield done + 2, block
        done += block.num_rows
