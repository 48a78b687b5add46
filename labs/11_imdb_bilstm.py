#!/usr/bin/env python
"""Lab 11 — Sentiment of IMDB reviews with a bidirectional LSTM (batch version of
notebooks/11_imdb_bilstm.ipynb).

Raw review text -> ``TextVectorization`` (vocabulary learnt on the training text) -> lecture 003's
BiLSTM -> one logit; Adam with gradient norm clipping (lecture 002). Examples::

    python labs/11_imdb_bilstm.py
    python labs/11_imdb_bilstm.py --vocab-size 10000 --sequence-length 100 --quick
    python labs/11_imdb_bilstm.py --clip-norm 0          # no clipping
    python labs/11_imdb_bilstm.py --strategy horovod     # under horovodrun or slurm/horovod.sbatch

Run `python labs/11_imdb_bilstm.py --help` for every option.
"""

from workbench.driver import main

if __name__ == "__main__":
    main("11_imdb_bilstm")
