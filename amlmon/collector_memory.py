"""How much memory DuckDB gets in the collector pull's fast path (amlmon/collector_fast.py), and when a
folder's rows come out in slices: the pull's budget is 300 MB (tests/bench/bench_collector.py), for
hourly folders and for a day-rolled collection's one large folder alike."""

# DuckDB's share of a pull's 300 MB. A bench_collector folder (83,000 records) with 64 MB: 20,000 page
# faults and 215 ms of CPU (DuckDB gives back buffers and faults them in again); with 128 MB: 13,600 and
# 198 ms, and the pull's peak is as it was (~280 MB). A larger folder spills to the pull's private folder.
# Less for a large folder is no way out: at 64 or 96 MB, a folder of 200,000 requests ran DuckDB out of
# memory (some of its steps do not spill) and was read record by record.
MEMORY_LIMIT = "128MB"
# A folder whose rows hold more text than SLICE_ABOVE comes out in slices of about SLICE_BYTES of text
# (Joined.slices), read with DuckDB's memory at SLICING_MEMORY_LIMIT: memory then holds DuckDB's share and
# a slice however large the folder (a day-rolled collection's folder holds a day). A folder of 400,000
# bench-shaped requests (517 MB of JSON lines): the pull's peak 434 MB as one table, 359 MB in slices;
# 800,000 in slices: the join's peak as for 200,000. Below it, one table: the next folder is joined while it is
# written (in slices, the next join waits for the last slice). bench_collector's folders hold ~4 MB.
SLICE_ABOVE = 16 * 1024 * 1024
SLICE_BYTES = 4 * 1024 * 1024
SLICING_MEMORY_LIMIT = "32MB"
