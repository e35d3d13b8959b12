"""The evaluators' annual editions: immutable, verifiable snapshots of the published warehouse.

``observatoire snapshot create --edition 2025`` freezes the published warehouse into
``$OBSERVATOIRE_DATA_DIR/snapshots/2025/``::

    README.md                     for evaluators, in French
    manifest.json                 edition, version, provenance of the frozen publication (its run, the validations
                                  it rests on, the source files it was built from, tools), every file's sha256,
                                  whether it is signed and with which key (``signature``)
    manifest.json.sig             when OBSERVATOIRE_SIGNING_KEY names a private key: the Ed25519 signature of
                                  manifest.json's exact bytes, base64 on one line (it covers every file, since
                                  manifest.json lists every file's sha256)
    SHA256SUMS                    the same hashes in `sha256sum -c` format (manifest.json and its .sig included;
                                  not signed itself: it detects accidents, the signature proves origin)
    observatoire_2025.xlsx        a workbook for humans: notes, one sheet per défi, key figures, fiches, evaluation
    observatoire_2025.duckdb      a standalone DuckDB file (storage readable by DuckDB 1.4+)
    parquet/<table>.parquet       every mart (evaluation_indicateur_qpv among them), the référentiel dimensions
    csv/<table>.csv               the same for French Excel and R's read.csv2: UTF-8 BOM, `;`, decimal comma

An edition is never rewritten: creating one that exists is refused. A correction
(``--correction "motif"``) writes ``2025.1`` (then ``2025.2``…) next to it, recording why and what changed.
A demo publication (the project's recordings: synthetic values) is refused unless asked for (``--demo``); its
edition then says « données de démonstration, valeurs synthétiques » in its README, manifest.json, workbook
notes and DuckDB file.
Everything is written into a temporary directory and renamed into place when complete, under the data
directory's writer lock, so a snapshot is either absent or whole.

Signatures: ``observatoire snapshot keygen DIR`` writes an Ed25519 key pair (``snapshot.key``, private, mode 600;
``snapshot.pub``, for the evaluators). With ``OBSERVATOIRE_SIGNING_KEY`` naming the private key, every edition and
correction is signed; ``observatoire snapshot verify VERSION --public-key snapshot.pub`` then detects an edited file
even when its manifest.json and SHA256SUMS were updated to match. A key is identified by its fingerprint: the
first 16 hex digits of the sha256 of the raw 32-byte public key.

The package's modules: :mod:`.base`, :mod:`.cells`, :mod:`.writers`, :mod:`.signing`, :mod:`.readme`, :mod:`.workbook`, :mod:`.create`, :mod:`.verify`.
"""

from observatoire.nombres import SIGNIFICANT_DIGITS, rounded
from observatoire.snapshot.base import (
    DICTIONARY_SHEET,
    EVALUATION_TABLE,
    FORMULA_TRIGGERS,
    LATEST_SHEET,
    LATEST_TABLE,
    MANIFEST,
    PRIVATE_KEY_FILE,
    PUBLIC_KEY_FILE,
    README,
    SIGNATURE,
    SIGNATURE_ALGORITHM,
    SIGNING_KEY_ENV,
    SITE_DIR,
    SUMS,
    KeyExists,
    SigningKeyError,
    Snapshot,
    SnapshotDemoRefused,
    SnapshotError,
    SnapshotExists,
    open_snapshot,
    parse_version,
    snapshots_dir,
    versions,
)
from observatoire.snapshot.cells import (
    COLUMN_LABELS,
    DISPLAY_DECIMALS,
    UNIT_LABELS,
    Catalogue,
    Column,
    csv_cell,
    gap_unit,
    neutralise,
    number_format,
    unit_label,
    xlsx_number,
)
from observatoire.snapshot.create import (
    check_demo_acknowledged,
    create,
    demo_publication,
    next_version,
    published_demo_reason,
)
from observatoire.snapshot.signing import (
    PublicKey,
    SigningKey,
    _inside,
    key_fingerprint,
    keygen,
    load_public_key,
    load_signing_key,
    signature_info,
    signing_key_of,
)
from observatoire.snapshot.verify import UnknownFilter, Verification, check, diff, list_snapshots, verify
from observatoire.snapshot.writers import _Workbook, defi_sheet_name, write_csv

__all__ = [
    "COLUMN_LABELS", "Catalogue", "Column", "DICTIONARY_SHEET", "DISPLAY_DECIMALS",
    "EVALUATION_TABLE", "FORMULA_TRIGGERS", "KeyExists", "LATEST_SHEET", "LATEST_TABLE", "MANIFEST",
    "PRIVATE_KEY_FILE", "PUBLIC_KEY_FILE", "PublicKey", "README", "SIGNATURE", "SIGNATURE_ALGORITHM",
    "SIGNIFICANT_DIGITS", "SIGNING_KEY_ENV", "SITE_DIR", "SUMS", "SigningKey", "SigningKeyError", "Snapshot",
    "SnapshotDemoRefused", "SnapshotError", "SnapshotExists", "UNIT_LABELS", "UnknownFilter", "Verification",
    "_Workbook", "_inside", "check", "check_demo_acknowledged", "create", "csv_cell", "defi_sheet_name",
    "demo_publication", "diff", "gap_unit", "key_fingerprint", "keygen", "list_snapshots", "load_public_key",
    "load_signing_key", "neutralise", "next_version", "number_format", "open_snapshot", "parse_version",
    "published_demo_reason", "rounded", "signature_info", "signing_key_of", "snapshots_dir", "unit_label",
    "verify", "versions", "write_csv", "xlsx_number",
]
