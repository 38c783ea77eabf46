"""Issue 13: the export worker was made cheaper without changing a byte it writes.

A store of awkward readings (schemes with and without ratios, ratio proofs, registers
read at several visits, history values, values in every notation, units CMEP does not
know, meter ids that need quoting or escaping or are too long for a CMEP line, notes that
a spreadsheet would run, intervals) is built the same way every time, its uploads are
exported as the daemon's export worker writes them (``export_stored``) and the whole
store as ``hhu-sync export`` writes it; every file's SHA-256 must be the one the code
before issue 13's change wrote (:data:`EXPECTED`, printed by running this file as a
script with that code first on ``sys.path``:
``PYTHONPATH=/work/main:. /work/main/.venv/bin/python tests/bench/test_export_bytes.py``).
A change of ingest or of the example schemes that changes the store changes them too;
a change of the exports' bytes must be a change on purpose.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

if __name__ == "__main__":                   # as a script: this checkout's tests package
    sys.path.append(str(Path(__file__).resolve().parents[2]))

from hhu_sync.ingest import UploadError, parse_upload
from hhu_sync.model.catalog import load_catalog
from hhu_sync.model.inputs import load_inputs
from hhu_sync.model.meterlist import MeterEntry, MeterList
from hhu_sync.profile.series import Channel, ChannelSeries, Run
from hhu_sync.profile.wire import encode_profile
from hhu_sync.store import SqliteStore
from tests.conftest import EXAMPLES, ROOT

NOW = "2026-11-28T12:00:00+00:00"
RECEIVED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
STAMP = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)       # the CMEP's creation time
A1700, A1140 = "a1700-ci-tou-2026", "a1140-day-night"
METERS = ["M1", "M2", "M3", "M4", "M5", "M,6", 'M"7', "=M8", "Mé9", "M\\10", "M 11",
          "M12\t", "-13", "X" * 250, "Y" * 256, "M14", "M15"]
VALUES = ["001846.0", "-0012.5", "+5", "1e3", "2.5E-2", "0.", ".5", "000", "0", "-0",
          "00.0", "0012.50", "abc", "", "1,5", "=1+1", "7", "123456.789", "-.5", "+00.10"]
UNITS = ["kWh"] * 8 + ["kvarh", "kW", "V", "", "KWH", "Wh", "kVAh"]
OBIS = ["1.8.0", "1.8.1", "1.8.2", "1.8.3", "2.8.0", "1.6.0", "0.9.1", "F.F", "1.8.1*3",
        "1-0:1.8.2*255", "C.1.0"]
NOTES = ["", "", "gate locked, dog", "=HYPERLINK(\"x\")", "line\nbreak", "+44 1234",
         "naïve café", "tab\there", "@home", " -1"]
FLAGS = ["00000000"] * 10 + ["00000001", "10000000"]
RATIOS = [None, None, {"ct": "400/5", "vt": "11000/110"}, {"ct": "1/1", "vt": "1/1"},
          {"ct": "200/5", "vt": "11000/110"}]
T0 = 1_764_028_800
STEP = 1800


def _time(rng: random.Random, day: int) -> str:
    zone = rng.choice(["+00:00", "+01:00", "-05:30", "+00:00"])
    return (f"2026-11-{day:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:"
            f"{rng.choice(['00', '00', '30', '59'])}{zone}")


def _visit(rng: random.Random, meter: str, day: int, with_profile: bool) -> dict:
    time = _time(rng, day)
    registers = []
    for obis in rng.sample(OBIS, rng.randrange(1, 7)):
        own = time if rng.random() < 0.7 else _time(rng, max(1, day - 1))
        registers.append([obis, rng.choice(VALUES), rng.choice(UNITS), own])
    v = {"meter": meter, "list": rng.choice(["L1"] * 12 + ["L2", "", "L9"]),
         "time": time, "outcome": rng.choice(["done"] * 8 + ["no_access"]),
         "registers": registers, "error_flags": rng.choice(FLAGS), "scheme": None,
         "verify": None, "operator": "crew-a", "notes": rng.choice(NOTES)}
    if v["outcome"] != "done":
        v["registers"] = []
    if rng.random() < 0.25:
        v["scheme"], v["verify"] = rng.choice([A1700, A1140]), "ok"
    ratios = rng.choice(RATIOS)
    if ratios is not None:
        v["ratios"] = ratios
    if with_profile and v["outcome"] == "done":
        first = T0 + STEP * rng.randrange(200)
        values = tuple(rng.choice([None, 0, 1, 250, 99999]) for _ in range(rng.randrange(1, 9)))
        v["profiles"] = [encode_profile(ChannelSeries(
            Channel(rng.choice(["1.8.0", "2.8.0"]), "kWh"), STEP, -3,
            (Run(first, values, tuple(rng.choice([0, 0, 1]) for _ in values)),)))]
    return v


def awkward_store(path: Path) -> tuple[SqliteStore, list[str]]:
    """The store, and the uploads it took (an upload ingest refused is left out)."""
    store = SqliteStore(path)
    return store, awkward_fill(store)


def awkward_fill(store) -> list[str]:
    """Fill an empty store (of either backend) with the awkward readings; the uploads
    it took."""
    catalog = load_catalog(ROOT / "config" / "meter-models.toml")
    for n, scheme in enumerate(load_inputs([EXAMPLES], catalog).schemes.values()):
        store.accept_input(sha256=f"{n:064d}", name=f"{scheme.id}.toml", kind="scheme",
                           moved_to="", now=NOW, scheme=scheme)
    store.add_meter_list(MeterList("L1", "L1", "HHU-001", None, "2026-12-01", "", tuple(
        MeterEntry(m, f"site {n}" if n % 3 else "", "", "read+program",
                   [A1700, A1140, None][n % 3], None, "") for n, m in enumerate(METERS[:12]))))
    rng = random.Random(13)
    taken = []
    for n in range(120):
        upload_id = f"U{n:03d}"
        visits = [_visit(rng, rng.choice(METERS), 1 + (n + k) % 27, n % 4 == 0)
                  for k in range(rng.randrange(1, 25))]
        try:
            parsed = parse_upload({"version": 2, "upload_id": upload_id, "hhu_id": "HHU-001",
                                   "visits": visits}, upload_id=upload_id,
                                  hhu_id="HHU-001", sha256=f"{n:064x}", received_at=RECEIVED)
        except UploadError:
            continue
        store.ingest(parsed, NOW)
        taken.append(upload_id)
    return taken


def export_digests(folder: Path) -> dict[str, str]:
    """Every export file's SHA-256, by name: each upload's, as the export worker writes
    them, and the whole store's CSV, CMEP and JSON lines."""
    import hhu_sync.export.cmep as cmep
    import hhu_sync.export.cmep_intervals as cmep_intervals
    from hhu_sync.dock.readings import export_stored
    from hhu_sync.export import write_cmep, write_csv, write_jsonl

    class Fixed(datetime):
        @classmethod
        def now(cls, tz=None):
            return STAMP

    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "store.db"
    store, uploads = awkward_store(database)
    out = folder / "exports"
    real = cmep.datetime
    cmep.datetime = cmep_intervals.datetime = Fixed     # type: ignore[misc]
    try:
        for upload_id in uploads:
            export_stored(database=str(database), upload_id=upload_id, folder=str(out),
                          sender="DEPOT")
        write_csv(store.readings(), out / "all.csv")
        write_cmep(store.readings(), out / "all.cmep", sender="DEPOT", now=STAMP)
        write_jsonl(store.readings(), out / "all.jsonl")
    finally:
        cmep.datetime = cmep_intervals.datetime = real      # type: ignore[misc]
        store.close()
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


def synthetic_rows() -> list:
    """Export rows no ingest would store (meter ids that need quoting or escaping, ids
    too long for a CMEP line, odd constants), for the writers on their own."""
    from hhu_sync.export import ExportRow
    rng = random.Random(17)
    meters = [*METERS, "X" * 700, "Y" * 1100, "Z\x1b" * 300, "M\u2028", ""]
    rows = []
    for meter in meters:
        for obis in rng.sample(OBIS, 5):
            for _ in range(rng.choice([1, 1, 1, 2, 5, 60])):
                basis = rng.choice(["", "primary", "secondary", "secondary", "unknown"])
                rows.append(ExportRow(
                    meter, obis, _time(rng, rng.randrange(1, 28)), rng.choice(VALUES),
                    rng.choice(UNITS), rng.choice(["ok"] * 6 + ["no_list", "suspect"]),
                    "HHU-001", "U1", NOW, rng.choice(["", "site", "=site", "s,te"]), "L1",
                    rng.choice(["", "day"]),
                    rng.choice(["", "", _time(rng, rng.randrange(1, 28)), "2026-11-02T10:00:00"]),
                    "", rng.choice(["", "8000", "40", "1,5", '2"', "1"]), basis,
                    "", rng.choice(["", A1700]), rng.choice(["", "00000000"]),
                    rng.choice(NOTES)))
    rows.sort(key=lambda r: (r.meter, r.obis, r.time))
    return rows


def writer_digests(folder: Path) -> dict[str, str]:
    from hhu_sync.export import write_cmep, write_csv
    folder.mkdir(parents=True, exist_ok=True)
    rows = synthetic_rows()
    write_csv(rows, folder / "rows.csv")
    write_cmep(rows, folder / "rows.cmep", sender="D,1", receiver="R", now=STAMP)
    write_cmep([tuple(r[:9]) for r in rows], folder / "legacy.cmep", sender="D", now=STAMP)
    write_csv([tuple(r[:9]) for r in rows], folder / "legacy.csv")
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# Written by the code of 2026-12-03 before issue 13's change (main at 9f8ce01).
#: written by the code of 2026-12-03 morning; the store-wide three (``all.*``) since the
#: fix that values each visit by its own ratio proof (five rows of meters visited twice
#: with other ratios changed basis, each now as its upload's own export has it:
#: test_the_store_wide_export_values_each_reading_as_its_uploads_own_export_does)
EXPECTED: dict[str, str] = {
    "U000.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U000.csv": "ab440aa7774a336b239e80b7ac9c637461dc87e6591f1e1d9d831a4c0e236487",
    "U000.intervals.cmep": "013869f15aab021f9bdac22912d74439a4976eaf5a6f0d83f596d964bbb4cc40",
    "U000.intervals.csv": "fad5ed39a1d9326ba8f37d8a491c829378b20a0a2c75b40fc9f793096df460ae",
    "U001.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U001.csv": "07b25ce06eea7571451e4cbf838a0725aebe0e36f399431eb0138266bc663a05",
    "U002.cmep": "7c14274abb2cc356a87a7d9f8c2d3bdbea3688fc70a94a59be3ca7d15eb0c140",
    "U002.csv": "e6aa338bf961c0c35daee6a42e040856fc29fa20e22dc2457018f153c3adf60f",
    "U003.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U003.csv": "299f9e67a1b10f5205ec4d3343a1f4910b32a0e966ae4df43ca39127a4d5a1d5",
    "U004.cmep": "2d3d73923622d13649e6c6942fbc5ba3c508e5a020aa9a658d35b35eef477a7a",
    "U004.csv": "78db471e2c806ad5303429181720f002448c5baf9ec40848d99950ad0b1dc416",
    "U004.intervals.cmep": "5e9c8f777d5210cdeae77d8d942284bb8d6852a80626231c91e7baf36e3132fd",
    "U004.intervals.csv": "c998796a23c393a525db9675041c35a3efba6d670d872f681a3f68ff039089c7",
    "U005.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U005.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U006.cmep": "8dd30fc5ee42241c453931abc436ab6caa4f4b6d7571adaedb2d66e86fe2c679",
    "U006.csv": "899ddb41b60b773ac224b7f2ff7484adf64018e2992a6f467823a12f394868eb",
    "U007.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U007.csv": "cd118f21266b7579cc30c6839776694b6b97c685df3f9c13b563fbd5896c0c05",
    "U008.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U008.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U008.intervals.cmep": "eb0f23bb1e1cb0c6f6b6a56fd31af2014b7b5d7b4336e1e8bd18b3b6d0aa0cf1",
    "U008.intervals.csv": "f4465b772c5ade50aa12b404a385ce3ffb1be49ca06c30ec83348fbf290d1f46",
    "U009.cmep": "a60046d5ad851fb88c23436fd26e413e3b8e3352694c91234abffc2e5b08de52",
    "U009.csv": "8a79d8c52011dabad5dfd124d8a66a059fac435a3b812ca7db9947d0f775768a",
    "U010.cmep": "181742faecb6f5094364000d16f7343323d036e3d8dd9acf271471a2a867e127",
    "U010.csv": "6d5b635905c1a289f2fdf39fd5242949864f7fd18cb66bc5908d78e9aa72afa8",
    "U011.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U011.csv": "d58fa6ba11eb21902a60c8237034a6d3ac84a92da1e589361304e163e9022db7",
    "U012.cmep": "c83b58fe70f108840008cc265428729bb03cf0d2562af4ea41149ea5a0b9b984",
    "U012.csv": "86e0dc5d67a79aa39d60115f1dd19da5eef3f30a4307cf98447608d3cb6c314d",
    "U012.intervals.cmep": "fafea054b8716d326ae5e795a3eed45d0fcef621f09c47578335ac577e6a2365",
    "U012.intervals.csv": "3609ef02a2b2872d7017596b8ee94c2c110f3e8ae958754200b734d448623454",
    "U013.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U013.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U014.cmep": "52ff75f2496692f232daea66d98c0e6268a5753e931b7b5b621ea0306c477c0d",
    "U014.csv": "5bb0d9a4e52727a34770908ad86b1ceefc5198272798d8d87d7a1a5f17886def",
    "U015.cmep": "40139eb0e65d7d184921ea11d506d7cfe244dab592784f33593a4fbe84ba6927",
    "U015.csv": "9cc3d6bcbd8298792c3a7b411db02bf815bf2c7c01c03c0196772da9f7342208",
    "U016.cmep": "a2ffecdcb1cd4d88a6492f8b0cab793487363ac4de42b9dd51295e7e7a3df697",
    "U016.csv": "00bd533fbab0ad7997e0e76994b6771207f1cf6b75c087fece4447ec9e0f0865",
    "U016.intervals.cmep": "cc3fa340226863534c21cd12793bb6a7f6c33b9f7bb9ab59b24bfa2aecc2b6e8",
    "U016.intervals.csv": "cf645c22b82a45abd22c325bca20956e8104a1cc5a7b2b32c335c6d3cd1265f0",
    "U017.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U017.csv": "f77b9fb58a2816c0014bdb3d95d66c702aa2dcc785ad2ec379626dc0762b7af9",
    "U018.cmep": "a46ca132eef74ac0a5bda5d7cad68b2987ddb64a6d771fbc10f4852d551ba2db",
    "U018.csv": "5df8cf456363aa9ce38359a9ed9d6d03e05e08a0ce41fd13189a2de785283fa9",
    "U019.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U019.csv": "8ba30f00901f23f1e35a573902304a463c26854ddc52120ad550c8b9bbfe9b37",
    "U020.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U020.csv": "7fb42dce1e653cb840657dcb205cb372ead14d72494127e8a080ba50446f8f82",
    "U020.intervals.cmep": "34560c1e17877901b51358ff92b721f4c6f1d2c5675105fe8d16bb14634bd0bc",
    "U020.intervals.csv": "92c3fbb919f3d5917fb03bb1d985624f8d541e05bda176af1f75b12a1fec8033",
    "U021.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U021.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U022.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U022.csv": "512243284ee135a9e40f3ea28970298460f466026b8cfcbd2d213e5c45241e06",
    "U023.cmep": "88fad286e9cc336bc7534026c16f86187c33bb296bf75ea8e15e37eebbadf71c",
    "U023.csv": "fea445f97cdab867fdaa98abecfef49951e64ffa81a8b41ee229877a46600ae4",
    "U024.cmep": "7218f211e24e0e4b0b272b18becbb106391f8671909b19e72c6ef401039b41b8",
    "U024.csv": "7fbf59ab102b805aa3231dd045d89dda037f8e95ec82b74dd5a0c35eb3b18280",
    "U024.intervals.cmep": "d4bb3a07e5661619c96f3bd3435e3002c16494087d47d478827e7cdc7b2f8c49",
    "U024.intervals.csv": "899a1645df3c4aec905682453c5de0717b9da93fc659807f2c285d34f93111c1",
    "U025.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U025.csv": "b7d9d23eedcd1e4e80f0d530b45548f7037f70e25bde616719bdd7482a2b97c8",
    "U026.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U026.csv": "d60c7ba7e3f1a64b421e56128fe9ce2d796027b57b34c46091405df91508cdbd",
    "U027.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U027.csv": "e371e37542ca4981abba2a56d3d110e793be221ca024b1768d8889bc29710303",
    "U028.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U028.csv": "0130fd11e02a54ee15b8551c535e8c5f84d1fffc0fa22cf835d31da6a0df1650",
    "U028.intervals.cmep": "5765f94c877ca02f7797deb93c966f87fbfcfc9c46038ac4dbd91b5c6e623ac2",
    "U028.intervals.csv": "b86437f41996d02a90d7d761d9855f54c7a5ad1e9a1b2b141efdc2540fb9ba93",
    "U029.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U029.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U030.cmep": "8a5e2138a601a4e5a6e4c5af24063b8b9e1946b91a6362f778c239b5ea0554a5",
    "U030.csv": "96a42e40fe182fc7c51497524833fdc5b2ea380882a6eef8581237d6255043ad",
    "U031.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U031.csv": "84815c80289a61a88ca708b6600425c752ca794aaa9313c4812e8c490aa5d592",
    "U032.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U032.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U032.intervals.cmep": "6eec541fa269e639807d98acbaee3cf60886c3f40e435c674766fb2ddadabea7",
    "U032.intervals.csv": "f9cccaf650ef63b329c63733f45970dbe89532a28cf5da1a814b621339c9ac04",
    "U033.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U033.csv": "09333ed6dd9e8ec75770dddacf05d845d7f4c14d664b6fd715ebaab1bba56409",
    "U034.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U034.csv": "01ac4e28becfdaa4ad80c124b16e0af839a9e906ff88ae9fb86c2139a3cd88ea",
    "U035.cmep": "81e2f34ced5051c350128220187ba8ca98cd77b761ad6dbc7385a8ac9f301294",
    "U035.csv": "a6a7aa74ffb00f807763b7e6a47928ebca55bdb8ef40f53efc593832c0b5ef13",
    "U036.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U036.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U036.intervals.cmep": "4fb290db62a92ff8a132cd76b3047542381f0f762cea864be3bc2ea6280ad6ce",
    "U036.intervals.csv": "fa6be40e67fdd721be060186a0561f8ba52f313d4e8da1e2769bc7e7223e3301",
    "U037.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U037.csv": "1db19cbba19491acaf0a937775cf8bbc16c623ca61d0cf16200d82ab024000fc",
    "U038.cmep": "b29d7c0ed733dbf77c4b0f3f5f166ff1425ff3542c415f330b84a53abbd85e5b",
    "U038.csv": "1f0c71a21bc4d34492288d5b319199c3f8e5a6bc443d83f6e7a31845c7c440a3",
    "U039.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U039.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U040.cmep": "d4d9a536c82c0725935eefeb8de605b945644a172d6d506d3e57f7750c13ac91",
    "U040.csv": "42e15f615b500eb04265a2aa825a5226b438f25f9f2dda2d0d6893a0a7437946",
    "U040.intervals.cmep": "9b8e05fcd651a37cc1312e25983f0eaa5ddd09047cf0fa05614fb0fd9c1bc6c2",
    "U040.intervals.csv": "9e1773ea3fced959fbcb1c00e87595de54d0f52d6f981b36e3add255ee76a98b",
    "U041.cmep": "1c5d98d53a1e5be3b0b3c07059f644b627d9770be05fb5ad4b6e68ed39438dd6",
    "U041.csv": "85c6bb086470786315bed0501188ab6e9189044a6e65898d38e64e12a9cea429",
    "U042.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U042.csv": "63f4b0e7011086290af4369c956c03f29eab9022ff65707056108ff38f651da5",
    "U043.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U043.csv": "9a775f07cf011d8f8572e67e767f401b98bdce506b75cd755b32252df83f9f51",
    "U044.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U044.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U044.intervals.cmep": "3dcab437ed5cedb7ef8a94c0c0eec0f8de6946a84a3dc10656ec89c5b0b7a183",
    "U044.intervals.csv": "9ec51528e6bf83c37d6262ec6be1028d488dff5afc568954b0efd12d7406021c",
    "U045.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U045.csv": "c2a58dcb2a4711708ab32fe88e977b967f7b76470686c66aad98c56cfea40f7b",
    "U046.cmep": "cfb803954060f947791fac3c12d26071f33ec99e1cf8cdbd46ac2963e6aa0993",
    "U046.csv": "5c2eecacd54c417a769bdd640073873e61f3c039fc86a817ce55d98047ae144f",
    "U047.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U047.csv": "27a6873b6a6f6002d854c2cc5d96ba35eecf41b66901f2ecd7500383f73789d5",
    "U048.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U048.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U048.intervals.cmep": "ce3cb34fe0a054290c9d50bb2235699cf4ce6baa297e7d72d9fc43001a71c865",
    "U048.intervals.csv": "6cb4d7f52f34fa49b1c9ceca2dd36ba46fdb10ee9e2090a771b3c0185207171c",
    "U049.cmep": "541b2486d4d5ea7d2e0d0b925632cd6e605cb29288f687bdf928cb785d54e618",
    "U049.csv": "fca6479518c3637efc5f35eab8b7a999aae0e9d66b9695c89cbfe1f767273c3f",
    "U050.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U050.csv": "61d72ffee8eed6e5e998327b37b9d0035377af98e7c18e175a9d713da0b5a467",
    "U051.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U051.csv": "96dfa832f75a8656e02c2965d181d0658dda9b1e560be507c3df8bdc2f7ef686",
    "U052.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U052.csv": "1af25b2b3c571b04002a67f2d12273a84128d78a505ddff960e78270cd74ab6b",
    "U052.intervals.cmep": "6077148cb530026789db921755c99ab7668ac6d4662be3d10b7c5290c5330980",
    "U052.intervals.csv": "577c6cd84bf55a0de9f8c40da6104193b9ce2e30af882f65afce2169ff111c55",
    "U053.cmep": "5a054506f468643eb3135e3b98ce41a6f2f86fab5277dc34ef8d15a99a7b27f9",
    "U053.csv": "fdde1e70d33cbbd398b1b763b72fd2b8d4490d425edf34a5b2340993284a12a5",
    "U054.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U054.csv": "32f62076994a9a2feee2074d6771adfefa200d3844c006eb9c7d416c2f814e4b",
    "U055.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U055.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U056.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U056.csv": "0011e057377a1fdc7588daeb153d78b7701521e0b8fd8b265d464e7792ff9693",
    "U056.intervals.cmep": "b0139b228c31aed1c590f8ece168922ebb92520f322f4b93464ee88b386290f5",
    "U056.intervals.csv": "09246b3d1b2f5a2e0b8f60edea6b193ecc68c75547dbf62a1eaf031f888878d1",
    "U057.cmep": "bda34052adfa81ba029b18a0c15743b39bb9bf46693681677f5f07e86f86fd28",
    "U057.csv": "a02cb8a54055954cbc6b03735f1f071412970f5abbf367040adf4a61e7666684",
    "U058.cmep": "7f5ec9155afa4e78f59e6b71f2b59b05164dc623e82a7785be2c27116cf61020",
    "U058.csv": "ab5e0de1257c141e35acd6b22044fd016638849eb7bc192cffc01fa73d69c7ca",
    "U059.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U059.csv": "2e7c01ddc72c3f92742ba053ec345e009a94b5fb1f1c4bd6d896bffff86b47c8",
    "U060.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U060.csv": "a62e509b39ef4c6b4bcf53597aac9aa36e60d8ac15072bb0e0d7ca5a3a06beb0",
    "U060.intervals.cmep": "fb8601817d89c73a86aa58850cd0c361344afcbd99850970625f4105294dcc58",
    "U060.intervals.csv": "ac5dba0d671e379123e38da5a257e9ee03e16be673853399ea700d2aa472e8d2",
    "U061.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U061.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U062.cmep": "a32903ddc79271873da925a4be1f9511b43508e9c6ba9895eaf7611732470fd3",
    "U062.csv": "ca789854aec6513d7dbb56cbd5f4d8df953908bd1116b99c9ae4af861bbf0df4",
    "U063.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U063.csv": "2f506d333f88ef27cc9263ad35e53a2fd79d86fbbd07da39f28471d946c85528",
    "U064.cmep": "aa99372a3c2ca213084eb7407801141a378e1e42ed30fd2304d92746c060f45b",
    "U064.csv": "337ee19e4bc551a54054b1a6ac8da22bfb91b5ddaa698068a995255418b9d522",
    "U064.intervals.cmep": "a4c0c75b7b3e225f9107965bf63b0f93f944b0e013b68b824ebe1fa3d7f03f50",
    "U064.intervals.csv": "203e59ead41a10b9e6863818602b90a0cc09667724ab272166eb3ed5941a9687",
    "U065.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U065.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U066.cmep": "1044723c7049cbcb4e627f1ed6fa439a09a630f1ca2b3e917a5e9b082288b849",
    "U066.csv": "8949379e05c25a2d41a8508cd4f3edf902c3068c3de5e377a7739f98ef58c534",
    "U067.cmep": "29f57db410f76765b63fbc2e5dd2b8dfdd836772091c680eadb057d49031a17d",
    "U067.csv": "0709a95f6900cf3ac9b462a2ba512be836d7b380eb54e5355cc6c2c43cbf3b71",
    "U068.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U068.csv": "6e59292565d5736bae41434abdb7a67d5eeabbca366ef0da52b00bc4c4ef115e",
    "U068.intervals.cmep": "1c361940dc82b073e6521b6053a466d4b5b5f1b9c11c776b63c229313c32c293",
    "U068.intervals.csv": "59a044fd945e7399379a578fc58d13b14de5ae5b5b02a4c87506d0ae467d25a6",
    "U069.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U069.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U070.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U070.csv": "193f9ff99f571b40f76c96779a6ccc54db4b06498e7eac170c8612075ec8ff5d",
    "U071.cmep": "f8a3df4190853d554e54548b19de348e3e68ea01f61db9edcdcdfd8ff635ee35",
    "U071.csv": "cc498971abfc244890f19da26ed828667c34c9b5d40fc6ee0fbaa64a71b2a0ec",
    "U072.cmep": "a21737528040f4c166ab8da53a7df06f73efd88d0adf6e80b2cb757750942dea",
    "U072.csv": "7096d30c9dd011782d7e0d0d654ed5ecf973c0b5dd478eaee2cf94e3136a327e",
    "U072.intervals.cmep": "3826493b4c0942a14aa56737c92b9e7a2a1f7aefd58d47f6a87d66daafa54959",
    "U072.intervals.csv": "d44715182b19b313afb2f7448debdccd3728a7ea21d84bc848b78de0b4be44e0",
    "U073.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U073.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U074.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U074.csv": "b679c9c423a3087eef89509a8536da0ebf9dbe0ad025beabf7857aa03addf086",
    "U075.cmep": "2f17b3c29ebe6580701c29691f140850151f517ededc79f76929329eec8368d3",
    "U075.csv": "5b8ce861e34a46781ebbfd3bc0021b0acc989ad6aa6ccad67b4ed3ea88bbeb3a",
    "U076.cmep": "23720d48d97f6613e4ac4e8afff577f55fcf8a8dee2f9df7b9f8bcb24289ebed",
    "U076.csv": "899da0c0f4827b04bdbcb89c4232af9ca63833321e4299eaf615c97ab48ad185",
    "U076.intervals.cmep": "f3393c716d9c7b32d9c29b641235928c113f5a17d9964b5dba0a8b2c187120b0",
    "U076.intervals.csv": "c9419ebbc190a193f4abbe35dcbd68c35ed0b13ed52155373a3651db5e97d18f",
    "U077.cmep": "b75c51d54365ae928347ed66f049273288af60538f07dc37be58dc05e3c84998",
    "U077.csv": "58925c476b4c2d2cbcec3bb8e9b7842daffb931d0d40453b11547f16f6bb6ce0",
    "U078.cmep": "eb8f0a78d1ba568e3036c301b72f05f09b3c651c839da4c52bc1c48e56d1f252",
    "U078.csv": "7640e2205dac8772e57d9bdcb55f7ccc17b56ed2c1b42eda445baa5013f943b9",
    "U079.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U079.csv": "f8b2734af9c982d81fb0696ad6ee7b98a5925d8e0449e5f977e479e9538488ee",
    "U080.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U080.csv": "c3f005cbfe67349fb3bc7b3da073a0edc9d2ff16314348156a04a1f48e601d2d",
    "U080.intervals.cmep": "af88733743ca93d9929b1c84e55da1a563259524cf8dba4429c885174590d909",
    "U080.intervals.csv": "be1ab03dd9513d2b46d0ecc414f43b1308719939a9614865787eedae5cfe0bdf",
    "U081.cmep": "2790dc6903d6cf325321d99ece31c81554d3bd6a772821744688ec566dd65bd9",
    "U081.csv": "eb22170e84f59854aa88111b52bc7f2d37f7fef05b496318184103f67e9daab1",
    "U082.cmep": "0e52f65adf2c2a70d9d3b294793bc95b3a9da3f32a4544d92d573d65a886b814",
    "U082.csv": "eb9b1993d3178ff5c92262df65473dc7b65b512037440c128b3a7a7116a783d0",
    "U083.cmep": "93456dbe3cc1964508c58cb4cc6d5a376953e0a93816273a29edccbeaa697172",
    "U083.csv": "f531ed3d70025daabd5a02247197bff7a79828916862c3b08d8bd8f4257ac363",
    "U084.cmep": "2589d6e11ec992533d95944df3b69529682629292daf9c106edc1591c69c7380",
    "U084.csv": "757f04455e39fd40db212d9e4e0f9b6e9e7db1e2bb5011a5636d696e4ae53e37",
    "U084.intervals.cmep": "687db4c3689eefd724eedbdee03c2e69b17475f7ea6ac36ed9e3549856656be7",
    "U084.intervals.csv": "cf619012c3e77c2b4e668cce4b8b59e787e2454ad23450f0d7e9877d5a81e9af",
    "U085.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U085.csv": "a24f32eac9e1fd0ed51f851f81cd6c9d7e30838ad2269b9d8586432a79286675",
    "U086.cmep": "09b44966c35f00be198635286f610eb44da5fff710603a2b7b9de00361e64ef9",
    "U086.csv": "148ab6e1efe7e01587230a3a6ae6c270880186af564b60c97b731c97d139ef54",
    "U087.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U087.csv": "ea3fef71f7d853c030007ecb453990632717af22439662c0725f67e27c1f63b0",
    "U088.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U088.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U088.intervals.cmep": "a20f3f709ad769ef5df3c75819ebb775c8dce318cf7531566b9180f5a1cbf9e1",
    "U088.intervals.csv": "a1c1b830b6a8d304cd93bb338e5f36b6e5b4e417581e0723bc35ba63f71ab73d",
    "U089.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U089.csv": "a0d1a2f3e17b0aae1f93a034b668706e558629be05cdf249dc8c0b2fa9e779f3",
    "U090.cmep": "d89fcb8b23e96ea12eb26c339aeb0290c27782152d292dbbb0ed15942b918493",
    "U090.csv": "c2d0409489b6462e44af24511ac083936c2a63fa7daa6dbc3ae1956115f73d79",
    "U091.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U091.csv": "11709da7db986556638dd602135ffe368ad137c9ae391ee9671ce95ca6aadee5",
    "U092.cmep": "dc730032b285bd26d02d7d2da1f27626f8e8a8139b990cc4882f7a5944013645",
    "U092.csv": "cf2ba7ae6d455bd2b2666b6c68fce1948246316e6ecdd53c5d4a7f2491301d35",
    "U092.intervals.cmep": "c11b17d9ed16df0efaad1de3e7b9ec2ef8db43350a179da4f29560737b7f7232",
    "U092.intervals.csv": "526a6a7242d8f2a8b4769d28e16f6c50897005113985541eeb236df25dfb075d",
    "U093.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U093.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U094.cmep": "81badeb2acb23cec3fd6fb00dfe79070dc87453ca562fee4d03e441af6f67aa8",
    "U094.csv": "e45c62d9fb489c3ad335be2f5aab2a121c7bc49783299ac0991e4648e6642044",
    "U095.cmep": "69bbba3cfb612e31b3dae03dff4c72d1ddd1a2307586cbd3e2effe99deff46e0",
    "U095.csv": "6b301784ce3c653e6f6d526212881255e371f009fc915063c8175a9176afd5e8",
    "U096.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U096.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U096.intervals.cmep": "c97fa126a505d26990cec75fb1e61e72418c684b887eb2bd69aaaf005ad40eb0",
    "U096.intervals.csv": "88cbe611cb34a8f304e9adb225a236caaf32addc00e8517d71f08c13e3ca2c86",
    "U097.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U097.csv": "fc7b6165f373bdaa5e229e74fc7226c95da8bf2b99aaef527bae5debacf20480",
    "U098.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U098.csv": "eb19d347e66d16efb41989d3b2806adf27b43636778b85a1050fe448907af8a0",
    "U099.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U099.csv": "2c15fb02db73c45030fea13577744854e19e811baaeab5618490fb8cdeea8789",
    "U100.cmep": "7a9e7df08ad3e374b4e012f5c88d76ad2a57dff231c29c0274d3317cd7b7c067",
    "U100.csv": "f2ea1344de4ae96d068843f10da35746786d797cc210dd93a43e612342b331f9",
    "U100.intervals.cmep": "a03e5e4845d5dffd6db40435da00dc69e867a3eddfcbda964bcd1d1875273f31",
    "U100.intervals.csv": "172db0e177a60ca0943aaa157e5521d2ac6cd4002d6975754154865ea75a4cb3",
    "U101.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U101.csv": "f5e65bc12ffd313f38f46c6348e9886b0768ecada7104d84e4b596b647f58a8a",
    "U102.cmep": "031f49b96b9030865234cbc9d6a5457072aae8a185701b270ecf989fa967a3eb",
    "U102.csv": "cab46ab65d6ff19fdf651b151d9ef59ec392d7d47d684cbca31ac02bd8facf98",
    "U103.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U103.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U104.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U104.csv": "82e9b4cee3be3f0df69d9c3ff9768c1eaa20625018b533d980f2eacc56768c8b",
    "U104.intervals.cmep": "40aaaace341d895c600726af9edd9b6a8fb448740cdcc4634ba6e8069eeb1983",
    "U104.intervals.csv": "09d3dbf0683577822c965b670e6a78b76dbb23f98c61fc4038fedb799429a0b4",
    "U105.cmep": "2d92ee8a9835f1dfbe4da82789a537129ff695f3aaeb62416d90dda9935b4e02",
    "U105.csv": "22e47bc7b0e1f33aeb6819bf8f5867d2f9e63c6a110e621af1a93f9bb52bc2aa",
    "U106.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U106.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U107.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U107.csv": "04b55fb4c21550167a2f08e4375e7231a77fcf437b492e61691cb470e137219d",
    "U108.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U108.csv": "ce2af0eed34f720dcd121f39a3d62eea2234582d25b20b1d134529b50c56e710",
    "U108.intervals.cmep": "bbfa96e826bf74b1907ee724a7e309f0c32babdc33f15b8839c5c4d6c42d64d8",
    "U108.intervals.csv": "cad90d023379c68028cd85a6b8fe15ba435dabc48ec82f8760dc833c2b3baf93",
    "U109.cmep": "c38dc419f0b9f2504e03d2ca92da9124ed5e3e637f7614a09bc909eff667d861",
    "U109.csv": "3d39038df412a8f35038ebdcf41bd5ed421b014a169660551a154049062facb8",
    "U110.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U110.csv": "8304e95f5ffd4c84afbc0883e5b45a34366c885314d99f2de9c1c310edf1f9b1",
    "U111.cmep": "fbfb839f5088948b99d254c3aee037e3ecc3e2afad69f0c0ddccb1258d6f00d0",
    "U111.csv": "ae21ebe648e2d897767daf5cd0c3f1046e1396a3322bf9cebafe8d01e82e266e",
    "U112.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U112.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U113.cmep": "d1c5293486d9c29709da8eda1d81c89e427ba537ba5f7f098645d42cee6be462",
    "U113.csv": "16045b082945c3f0749314802e93a144ccf485a16f95576af5d939493f1f831c",
    "U114.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U114.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U115.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U115.csv": "49767675fcacf39cd914b8b7f284bd98eeaf12bf2c74ed0e7afc0ecba5bccad0",
    "U116.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U116.csv": "c5f62b820ea7087da15aeedc64b5d6dd8e08121d00358920efd0e1bef413c9c9",
    "U116.intervals.cmep": "d2513a078765988d52f94764db881d783b8a46fb87ae4fe5a50ba81a9f64ff5c",
    "U116.intervals.csv": "6618f6d0b95a7596065b509bbae9384ad36f36c22697ce1d9963ce7abcbceee1",
    "U117.cmep": "6c05a00a6f5d0141feb6e51dd0eda7633c3513c43279ca119fb47cd054ee31ec",
    "U117.csv": "aab8c34e4fb41273110fee3f4ee1093a059939c837c94138ea3d50bf7e608327",
    "U118.cmep": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "U118.csv": "2ebbd53abb6a916cdc9f0cecee899ad13a07092b5a65650203d4401de9e1cc69",
    "U119.cmep": "966ecfea18052803baf792ba5bf1e0293608c676311200bd1ac45f34da1d78cc",
    "U119.csv": "fed49f73df2a8c6835e9a46bcc23e4c90b8f2d45a01d61b2bf3e04a2780dd360",
    "all.cmep": "bdabf6265b07a54aa0b88229a6dc4d8f1c333804de0a6c97df53ea9313179304",
    "all.csv": "587111472f7bc4d60d8b560345af18f8b4840f45b74b2f7ccdaad182766a1d51",
    "all.jsonl": "66d49d8bf5cdabaa88d89a600962ac28e42fdc48b0da72a16f8d98f9e3c5638f",
}
WRITERS: dict[str, str] = {
    "legacy.cmep": "357191b9fbcc74a0da605db699894e6443445e4e661a9df94e2b54f5e44c0c9e",
    "legacy.csv": "95277008284d33e8df0de396327a6ec596599014857cc0159130660a138c3fdb",
    "rows.cmep": "8b51b8a750c1224b3fafdcdd9ceadebe993c6f68d2ab88bb52716aa14c980ce3",
    "rows.csv": "d8a3e4e94e4b5effdbe5059c7aaa021449d9403d774a131aeedb7d08378d5b4e",
}


def test_the_exports_are_the_bytes_written_before(tmp_path):
    got = export_digests(tmp_path)
    assert len(got) > 60 and any(n.endswith(".intervals.cmep") for n in got)
    assert got == EXPECTED


def test_the_writers_write_the_bytes_written_before(tmp_path):
    assert writer_digests(tmp_path) == WRITERS


if __name__ == "__main__":
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps({"EXPECTED": export_digests(Path(tmp) / "store"),
                          "WRITERS": writer_digests(Path(tmp) / "writers")},
                         indent=4, sort_keys=True))


def test_the_store_wide_export_values_each_reading_as_its_uploads_own_export_does(tmp_path):
    """The store-wide CSV (rows in register order, a meter's visits interleaved) and each
    upload's own CSV give every reading the same basis, multiplier and primary value."""
    import csv
    export_digests(tmp_path)
    out = tmp_path / "exports"
    whole = list(csv.reader((out / "all.csv").open()))
    head = whole[0]
    key = [head.index(c) for c in ("meter", "obis", "time", "upload_id")]
    valued = [head.index(c) for c in ("multiplier", "value_basis", "value_primary")]
    own = {}
    for path in out.glob("U*.csv"):
        rows = list(csv.reader(path.open()))
        if rows and rows[0] == head:
            own |= {tuple(r[i] for i in key): [r[i] for i in valued] for r in rows[1:]}
    compared = 0
    for row in whole[1:]:
        mine = own.get(tuple(row[i] for i in key))
        if mine is not None:
            assert [row[i] for i in valued] == mine, row
            compared += 1
    assert compared > 100
