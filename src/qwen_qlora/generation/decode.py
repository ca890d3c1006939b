"""Batched, seeded sampling for every model row.

The base model is the adapted one with its adapter disabled, so both see the same
prompts, seeds and decoding settings. The few-shot row puts worked examples before the
prompt; a base model then goes on to write the next "prompt" itself, so its sample is
cut where the prompt template's fixed text starts again (`cut_at`).

Every row decodes through `decode`, a key-value-cached loop over the model's body that
does what `transformers`' `generate` does for these settings (its own logits processors:
repetition penalty, temperature, top-k, top-p; greedy when no sampling is given; a test
holds greedy decoding equal to `generate`'s) with two differences that matter on a CPU,
where a decoding step costs in proportion to its rows:
- a row that has stopped leaves the batch (its key-value cache rows are dropped), where
  `generate` keeps decoding padding for it until the last row stops;
- with a token subset (`vocab`, e.g. `model.head.corpus_vocab`), the output layer and the
  logits processors run over the subset's columns only, not over the 262,144-token
  vocabulary; every other token has probability zero (a stated restriction).

Every writer passes one `config.Decoding` (params.yaml's `generate` with a person's
overrides) to `sample`; `Sampling.end_chance` chooses whether a stop token's chance goes through the processors
(`generate`'s way) or is the model's own (`sample`'s default; see `Sampling`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from transformers.generation.logits_process import (
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from qwen_qlora.config import Decoding
from qwen_qlora.model.adapted import adapter_switch
from qwen_qlora.model.head import backbone_and_head, logit_transform
from qwen_qlora.model.prompts import Shot, prompt_ids


def _decode(tokenizer: Any, ids: Sequence[int]) -> str:
    return tokenizer.decode(ids, skip_special_tokens=True).strip()


def left_pad(rows: list[list[int]], pad_id: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows left-padded into one batch (generation continues at the right edge)."""
    width = max(map(len, rows))
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], device=device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
    return ids, mask


@dataclass(frozen=True)
class Sampling:
    """Sampling settings of `decode`; top_k 50 is `transformers`' default, which `generate`
    applies when a model's generation config sets none (0 turns it off).

    `end_chance`: how likely a stop token (EOS; for line-by-line writing, a line break) is.
    `processed`: like every token, after the processors (`generate`'s behaviour). `model`:
    the model's own probability, before them; temperature, top-k and top-p then shape only
    the choice among the other tokens. At a line end a stop token is one sharp choice
    against many spread-out first words, so temperature < 1 and truncation raise its share:
    measured on the test poems' line ends, the adapter's own EOS probability is 0.11 and
    0.22 after temperature 0.8, top-k 50 and top-p 0.95 (the poems' own rate: 0.075)."""

    temperature: float
    top_p: float
    repetition_penalty: float
    top_k: int = 50
    end_chance: Literal["model", "processed"] = "processed"

    @classmethod
    def of(cls, decoding: Decoding) -> Sampling:
        """The processors' settings of a validated `config.Decoding`."""
        return cls(decoding.temperature, decoding.top_p, decoding.repetition_penalty, decoding.top_k,
                   decoding.end_chance)

    def processors(self) -> LogitsProcessorList:
        """`transformers`' processors in `generate`'s order, each only where it changes anything."""
        out = LogitsProcessorList()
        if self.repetition_penalty != 1.0:
            out.append(RepetitionPenaltyLogitsProcessor(self.repetition_penalty))
        if self.temperature != 1.0:
            out.append(TemperatureLogitsWarper(self.temperature))
        if self.top_k:
            out.append(TopKLogitsWarper(self.top_k))
        if self.top_p < 1.0:
            out.append(TopPLogitsWarper(self.top_p))
        return out


RowDone = Callable[[int, list[int]], bool]


def attention_window(model: Any) -> float:
    """The tokens a layer of `model` attends to: its sliding window when some layer slides
    (Gemma-3's local layers), else no limit."""
    config = getattr(model, "config", None)
    window = getattr(config, "sliding_window", None)
    sliding = "sliding_attention" in (getattr(config, "layer_types", None) or [])
    return float(window) if window and sliding else float("inf")


@torch.no_grad()
def decode(model: Any, rows: list[list[int]], *, pad_id: int, stop_ids: Sequence[int], max_new_tokens: int,
           sampling: Sampling | None = None, vocab: torch.Tensor | None = None,
           done: RowDone | None = None, branches: Sequence[tuple[int, int]] | None = None,
           finished: Callable[[int], object] | None = None) -> list[list[int]]:
    """The new tokens of each prompt row (token ids), left-padded into one batch and decoded
    with a key-value cache: sampled with `sampling` (the caller seeds torch), greedy
    without. A row stops after a token of `stop_ids` (kept as its last token), after
    `max_new_tokens`, or when `done(row index, its new tokens)` says so, and then leaves
    the batch. `vocab`: sorted token ids, the only tokens decoded (see the module text).

    `branches`: [(row, n)], continuations of prefixes: each decodes `rows[row][:n]`, and
    the result has one entry per branch. The rows are run once and every branch reuses
    their key-value cache, its positions from n on masked out, so asking for many
    prefixes of one text costs one pass over the text, not one per prefix.

    `finished`: called with the number of rows (or branches) that stopped at a step, for
    progress shown per finished poem."""
    model.eval()
    if branches is not None and max(map(len, rows)) + max_new_tokens > attention_window(model):
        # a sliding-window layer's cache drops the oldest keys, which an early branch needs
        rows, branches = [rows[r][:n] for r, n in branches], None
    device = next(model.parameters()).device
    backbone, head = backbone_and_head(model)
    transform = logit_transform(model)
    if vocab is None:
        weight, lookup = head.weight, None
    else:  # lookup: token id -> column; tokens outside the subset map to a column that stays -inf
        vocab = vocab.to(device)
        weight = head.weight[vocab]
        lookup = torch.full((head.weight.shape[0],), len(vocab), dtype=torch.long, device=device)
        lookup[vocab] = torch.arange(len(vocab), device=device)
    processors = sampling.processors() if sampling else LogitsProcessorList()
    stops = torch.tensor(sorted(set(stop_ids)), dtype=torch.long, device=device)
    stop_cols = stops if lookup is None else lookup[stops][lookup[stops] < len(vocab)]
    model_ends = sampling is not None and sampling.end_chance == "model" and len(stop_cols) > 0
    ids, mask = left_pad(rows, pad_id, device)
    history = ids if lookup is None else lookup[ids]  # what the repetition penalty sees, in columns
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = backbone(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
    cache, last, hidden = out.cache, positions[:, -1], out.last_hidden_state[:, -1]
    if branches is not None:  # each branch sees its row's first n tokens: the rest is masked out
        source = torch.tensor([r for r, _ in branches], dtype=torch.long, device=device)
        n = torch.tensor([k for _, k in branches], dtype=torch.long, device=device)
        end = ids.shape[1] - mask.sum(-1)[source] + n  # column after the branch's last token
        keep = torch.arange(ids.shape[1], device=device)[None, :] < end[:, None]
        cache.batch_select_indices(source)
        mask, last = mask[source] * keep, n - 1
        history = torch.where(keep, history[source], history[source, :1])  # the first column is a pad or a prompt token
        hidden = out.last_hidden_state[source, end - 1]
    alive = torch.arange(len(hidden), device=device)
    new: list[list[int]] = [[] for _ in range(len(hidden))]
    for step in range(max_new_tokens):
        logits = hidden @ weight.t()
        if transform["scale"] != 1.0:
            logits = logits * transform["scale"]
        if transform["softcap"] is not None:
            logits = torch.tanh(logits / transform["softcap"]) * transform["softcap"]
        scores = logits.float()
        if lookup is not None:
            scores = torch.cat([scores, scores.new_full((len(scores), 1), float("-inf"))], dim=1)
        if model_ends:  # the model's own chance to stop; the processors choose among the rest
            ends = torch.softmax(scores, dim=-1)[:, stop_cols]
            scores[:, stop_cols] = float("-inf")
        scores = processors(history, scores)
        if lookup is not None:
            scores = scores[:, :-1]  # the outside column is only there for the penalty's lookups
        if sampling:
            probs = torch.softmax(scores, dim=-1)
            if model_ends:
                probs = probs * (1 - ends.sum(-1, keepdim=True)).clamp(min=0)
                probs[:, stop_cols] = ends
            column = torch.multinomial(probs, 1)[:, 0]
        else:
            column = scores.argmax(-1)
        token = column if vocab is None else vocab[column]
        ended = torch.isin(token, stops)
        for n, (row, t) in enumerate(zip(alive.tolist(), token.tolist(), strict=True)):
            new[row].append(t)
            if done is not None and not ended[n] and done(row, new[row]):
                ended[n] = True
        if step == max_new_tokens - 1 or bool(ended.all()):
            if finished is not None:
                finished(len(alive))
            break
        keep = (~ended).nonzero()[:, 0]
        if len(keep) < len(alive):
            if finished is not None:
                finished(len(alive) - len(keep))
            cache.batch_select_indices(keep)
            alive, mask, history, column, last = alive[keep], mask[keep], history[keep], column[keep], last[keep]
            token = token[keep]
        mask = torch.cat([mask, mask.new_ones((len(mask), 1))], dim=1)
        history = torch.cat([history, column[:, None]], dim=1)
        last = last + 1
        out = backbone(input_ids=token[:, None], attention_mask=mask, position_ids=last[:, None],
                       cache=cache, use_cache=True)
        hidden = out.last_hidden_state[:, -1]
    return new


def sample(model: Any, tokenizer: Any, preset: Any, prompts: list[str], n: int, seed: int, decoding: Decoding, *,
           adapter: bool = True, shots: Sequence[Shot] = (), cut_at: str | None = None, batch_size: int = 64,
           vocab: torch.Tensor | None = None, progress: Callable[[int], object] | None = None
           ) -> list[list[dict[str, Any]]]:
    """`n` sampled completions of each prompt, in batches of `batch_size` rows: per
    prompt, a list of {text, new_tokens, stopped_at_eos}. The same prompts, seed and
    `decoding` (`GenerateParams.decoding()`) give the same poems. `cut_at`: a text at which
    a sample is cut (and counted as stopped); `vocab`: the token subset that
    `decoding.vocab: corpus` samples from (`model.head.records_vocab`), required then and
    refused otherwise, so the restriction is never applied or dropped silently.
    `progress`: called with the number of poems just finished (`qwen_qlora.progress.Progress`)."""
    if (decoding.vocab == "corpus") != (vocab is not None):
        raise ValueError(f"generate.vocab is {decoding.vocab!r} but the token subset was "
                         f"{'not given' if vocab is None else 'given'}; build it with model.head.records_vocab "
                         "for 'corpus', give none for 'full'")
    rows = [prompt_ids(preset, tokenizer, p, shots) for p in prompts for _ in range(n)]
    sampling = Sampling.of(decoding)
    max_new_tokens = decoding.max_new_tokens
    eos = tokenizer.eos_token_id
    results = []
    torch.manual_seed(seed)
    for start in range(0, len(rows), batch_size):
        with adapter_switch(model, adapter):
            news = decode(model, rows[start:start + batch_size], pad_id=tokenizer.pad_token_id, stop_ids=[eos],
                          max_new_tokens=max_new_tokens, sampling=sampling, vocab=vocab, finished=progress)
        for new in news:
            ended = bool(new) and new[-1] == eos
            stop = len(new) - 1 if ended else len(new)
            text = _decode(tokenizer, new[:stop])
            cut = bool(cut_at) and cut_at in text
            results.append({"text": text.split(cut_at)[0].strip() if cut else text,
                            "new_tokens": stop, "stopped_at_eos": ended or cut})
    return [results[i * n:(i + 1) * n] for i in range(len(prompts))]
