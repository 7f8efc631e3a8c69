"""A fake CogVLM model/tokenizer pair speaking the remote code's interface and answer format.

The model reads the image index back from the flat grey pixels and the part from the
query tokens, checks the batch is left-padded and greedy, and answers per `ANSWERS`.
"""

from __future__ import annotations

import numpy as np
import torch

from reid.grounding.parts import PROMPTS
from tests.grounding.helpers import grey_value

VISION_TOKENS = 4
# image index % 5 → answer kind; {part} is filled with the part index
ANSWERS = {
    0: "[[100,0{part}0,880,300]]",  # one box
    1: "[[100,020,880,300;120,310,870,640]]",  # two boxes
    2: "Sorry, I cannot find it.",  # no box
    3: "[[12,ab,]]",  # garbage
    4: "[[100,200,1500,900]]",  # out of range → clipped
}


class FakeTokenizer:
    pad_token_id, bos_token_id, eos_token_id = 0, 1, 2

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [ord(c) + 3 for c in text]

    def batch_decode(self, rows: torch.Tensor, skip_special_tokens: bool = True) -> list[str]:
        return ["".join(chr(int(t) - 3) for t in row if int(t) > 2) for row in rows]


class FakeCogVLM:
    def __init__(self) -> None:
        self.generate_calls = 0
        self.sequences = 0

    def build_conversation_input_ids(self, tokenizer, *, query, history, images, template_version):
        assert history == [] and template_version == "base" and len(images) == 1
        text = tokenizer.encode(query)
        ids = [tokenizer.bos_token_id] + [tokenizer.pad_token_id] * VISION_TOKENS + text
        types = [0] + [1] * VISION_TOKENS + [0] * len(text)
        pixels = torch.from_numpy(np.asarray(images[0]).copy()).permute(2, 0, 1).float()
        return {"input_ids": torch.tensor(ids), "token_type_ids": torch.tensor(types),
                "attention_mask": torch.ones(len(ids), dtype=torch.long), "images": [pixels]}

    def generate(self, *, input_ids, token_type_ids, attention_mask, images, max_new_tokens, do_sample):
        assert do_sample is False and len(images) == input_ids.shape[0]
        self.generate_calls += 1
        self.sequences += input_ids.shape[0]
        tok = FakeTokenizer()
        answers = []
        for row, types, mask, image in zip(input_ids, token_type_ids, attention_mask, images, strict=True):
            n_pad = int((mask == 0).sum())
            assert bool((mask[n_pad:] == 1).all()), "padding must be on the left"
            assert bool((types[:n_pad] == 0).all()) and bool((row[:n_pad] == tok.pad_token_id).all())
            query = tok.batch_decode(row[n_pad + 1 + VISION_TOKENS:][None])[0]
            part = list(PROMPTS.values()).index(query)
            index = (round(float(image[0].float().mean())) - grey_value(0)) // 10
            answer = ANSWERS[index % 5].format(part=part)
            answers.append(tok.encode(answer)[:max_new_tokens] + [tok.eos_token_id])
        width = max(len(a) for a in answers)
        new = torch.tensor([a + [tok.eos_token_id] * (width - len(a)) for a in answers])
        return torch.cat([input_ids, new], dim=1)
