"""``llmmusic melody train|eval``: the melody-completion transformer from the command line."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from llmmusic.commands._options import existing_folder, fraction, nonnegative_int, output_file, positive_float, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("melody", help="train / evaluate the melody-completion transformer",
                       description="train: fit the transformer on one corpus's training songs and save a checkpoint. "
                                   "eval: next-token metrics and the 50-candidate next-phrase ranking on every "
                                   "corpus's test songs, beside n-gram baselines and chance.")
    p.add_argument("action", choices=("train", "eval"))
    p.add_argument("--model", type=output_file, help="checkpoint (default: <llmmusic home>/models/melody-<corpus>.pt)")
    data = p.add_argument_group("data (train; eval reuses the checkpoint's)")
    data.add_argument("--dataset", type=existing_folder, help="LLM-MIDI dataset folder (default: llmmusic.data.dataset.DEFAULT_DATASET)")
    data.add_argument("--train-corpus", choices=("llm-midi", "pop909", "folk"), default="llm-midi")
    data.add_argument("--phrase-bars", type=positive_int, default=1, help="bars per phrase (default 1)")
    data.add_argument("--llm-limit", type=positive_int, help="at most this many LLM-MIDI pieces")
    data.add_argument("--human-limit", type=positive_int, default=200, help="pieces per human corpus (default 200)")
    data.add_argument("--human-max-bars", type=positive_int, default=32, help="first bars of each human song (default 32)")
    data.add_argument("--split-seed", type=nonnegative_int, default=0)
    data.add_argument("--window-phrases", type=positive_int, default=4, help="phrases per training window (default 4)")
    data.add_argument("--window-stride", type=positive_int,
                      help="phrases between window starts (default: 1 for llm-midi, else --window-phrases)")
    model = p.add_argument_group("model and training (train)")
    model.add_argument("--d-model", type=positive_int, default=128)
    model.add_argument("--layers", type=positive_int, default=2)
    model.add_argument("--heads", type=positive_int, default=4)
    model.add_argument("--dropout", type=fraction, default=0.1)
    model.add_argument("--max-len", type=positive_int, default=256)
    model.add_argument("--epochs", type=positive_int, default=15)
    model.add_argument("--batch-size", type=positive_int, default=16)
    model.add_argument("--lr", type=positive_float, default=1e-3)
    model.add_argument("--seed", type=nonnegative_int, default=0)
    model.add_argument("--device", default="auto", help="auto (GPU when present), cpu or cuda")
    model.add_argument("--threads", type=positive_int, help="torch CPU threads (default: torch's own choice)")
    ev = p.add_argument_group("evaluation (eval)")
    ev.add_argument("--corpora", nargs="+", default=["llm-midi", "pop909", "folk"],
                    help="corpora to evaluate on (default: all three)")
    ev.add_argument("--queries", type=positive_int, default=300, help="ranking queries per corpus (default 300)")
    ev.add_argument("--out", type=output_file, help="also write the results as JSON here")
    p.set_defaults(func=run)


def _train(args: argparse.Namespace) -> int:
    from llmmusic.experiments.melody import MelodyTokenizer
    from llmmusic.experiments.melody.experiment import DataConfig, checkpoint_info, default_checkpoint, prepare, train
    from llmmusic.experiments.melody.model import save_checkpoint
    from llmmusic.experiments.melody.train import TrainConfig

    config = DataConfig(dataset=str(args.dataset) if args.dataset else None, phrase_bars=args.phrase_bars,
                        llm_limit=args.llm_limit, human_limit=args.human_limit, human_max_bars=args.human_max_bars,
                        split_seed=args.split_seed, max_len=args.max_len, window_phrases=args.window_phrases,
                        window_stride=args.window_stride)
    corpus = prepare(config, [args.train_corpus])[args.train_corpus]
    if corpus.missing:
        raise SystemExit(f"corpus {args.train_corpus}: {corpus.missing}")
    tokenizer = MelodyTokenizer()
    train_config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                               device=args.device, threads=args.threads)
    trained = train(corpus, tokenizer, config, train_config, d_model=args.d_model, n_layers=args.layers,
                    n_heads=args.heads, dropout=args.dropout, seed=args.seed,
                    progress=lambda row: print(json.dumps(row)))
    result = trained.result
    path = args.model or default_checkpoint(args.train_corpus)
    save_checkpoint(path, trained.model, checkpoint_info(config, args.train_corpus, tokenizer, result.summary(),
                                                         asdict(train_config)))
    print(json.dumps({"checkpoint": str(path), "best_epoch": result.best_epoch,
                      "seconds_per_epoch": round(result.seconds_per_epoch, 3), "device": result.device,
                      "parameters": result.n_parameters, "train_sequences": result.n_sequences}, indent=2))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from llmmusic.experiments.melody.experiment import DataConfig, all_scorers, default_checkpoint, evaluate, prepare, sequences
    from llmmusic.experiments.melody.model import load_checkpoint

    path = args.model or default_checkpoint(args.train_corpus)
    if not Path(path).is_file():
        raise SystemExit(f"{path}: no checkpoint (run `llmmusic melody train` first)")
    model, tokenizer, info = load_checkpoint(path, args.device)
    config = DataConfig(**{**info["data"], "fractions": tuple(info["data"]["fractions"])})
    train_corpus = info["train_corpus"]
    corpora = list(dict.fromkeys([train_corpus, *args.corpora]))
    data = prepare(config, corpora)
    scorers = all_scorers(model, tokenizer, sequences(data[train_corpus], tokenizer, config))
    evaluated = {name: data[name] for name in args.corpora if name in data}
    result = evaluate(scorers, evaluated, tokenizer, config, n_queries=args.queries, seed=config.split_seed,
                      threads=args.threads)
    nt, rk = result.next_token, result.ranking
    print(f"trained on {train_corpus}; checkpoint {path}")
    print(nt[["n_tokens", "accuracy", "perplexity", "accuracy_Pitch"]].round(4).to_string())
    print(rk.table.round(4).to_string())
    if args.out:
        from llmmusic import atomic

        payload = {"checkpoint": str(path), "train_corpus": train_corpus, "data": info["data"],
                   "next_token": nt.reset_index().to_dict(orient="records"),
                   "ranking": rk.table.reset_index().to_dict(orient="records")}
        atomic.write_text(args.out, json.dumps(payload, indent=1, default=str) + "\n")
    return 0


def run(args: argparse.Namespace) -> int:
    return _train(args) if args.action == "train" else _eval(args)
