# Checks that litdata and litgpt read a dataset written by `minilm prepare` (run once by hand, never in CI):
#   python3 -m venv /tmp/litdata-venv && /tmp/litdata-venv/bin/pip install litdata litgpt
#   /tmp/litdata-venv/bin/python scripts/check-litdata.py OUTPUT_DIR TOKENIZER_DIR
# Last run 2026-11-28 with litdata 0.2.76, litgpt 0.5.13, torch 2.15.0: both read train/ and val/.

import sys, torch
from litdata import StreamingDataset, TokensLoader, StreamingDataLoader
root = sys.argv[1]
for split in ("train", "val"):
    ds = StreamingDataset(input_dir=f"{root}/{split}", item_loader=TokensLoader(block_size=65), shuffle=True, seed=42)
    first = ds[0]
    n = len(ds)
    items = [ds[i] for i in range(n)]
    print(split, "windows", n, first.dtype, first.shape, "max id", int(max(int(x.max()) for x in items)))
from litgpt.data import LitData
from litgpt.tokenizer import Tokenizer
data = LitData(data_path=root, split_names=("train", "val"), num_workers=0)
tok = Tokenizer(sys.argv[2])
data.connect(tokenizer=tok, batch_size=4, max_seq_length=64)
data.prepare_data(); data.setup()
batch = next(iter(data.train_dataloader()))
vbatch = next(iter(data.val_dataloader()))
print("litgpt LitData train batch", tuple(batch.shape), batch.dtype, "val batch", tuple(vbatch.shape))
print("decoded:", tok.decode(batch[0][:40]))
