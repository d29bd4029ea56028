# Checks that TensorBoard itself reads the event files minilm writes (run once by hand, never in CI):
#   python3 -m venv /tmp/tbcheck && /tmp/tbcheck/bin/pip install -q tensorboard
#   /tmp/tbcheck/bin/python scripts/check-tensorboard.py LOG_DIR
# LOG_DIR is the folder holding events.out.tfevents.* files. Prints each scalar tag with its count
# and (step, value) pairs; exits non-zero when TensorBoard finds no scalars there.

import sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

if len(sys.argv) != 2:
    sys.exit(f"usage: {sys.argv[0]} LOG_DIR")
# size_guidance 0 keeps every point; the default samples long runs down to 10,000 scalars per tag.
accumulator = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
accumulator.Reload()
tags = accumulator.Tags()["scalars"]
for tag in tags:
    points = accumulator.Scalars(tag)
    print(f"{tag}: {len(points)} points", [(p.step, p.value) for p in points[:10]], "..." if len(points) > 10 else "")
if not tags:
    sys.exit(f"no scalars found in {sys.argv[1]}")
