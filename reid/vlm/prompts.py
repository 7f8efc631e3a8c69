"""The texts the vision-language model is asked, and the chat format of the demo's stand-in.

MUSE's prompt is domain-agnostic (PEERS.md §3.2): judge identity by the person's appearance,
clothing and carried objects, never by what changes with the camera (background, pose,
occlusion, viewpoint). The wording here is ours; its content follows MUSE's template.
"""

from __future__ import annotations

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>")  # Qwen2-VL's, so the demo goes through the same processor
PAD, END = "<|endoftext|>", "<|im_end|>"
UNKNOWN = "<unk>"

# Qwen2-VL's template without the default system turn: role headers, images as vision_start·pad·vision_end
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% else %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CAPTION_INSTRUCTION = "Describe the person in this photo."

PAIR_TASK = ("You are shown two photos of pedestrians, a query and a candidate. "
             "Decide whether they show the same person.")
PAIR_RULES = ("Judge only by the person: body, hair, clothing colours and patterns, shoes and carried objects. "
              "Never rely on the background, the pose, occlusion, lighting or the camera angle. "
              "Answer with one word: Yes or No.")
YES, NO = "Yes", "No"


def pair_messages() -> list[dict]:
    """The user turn of a query–candidate question (two image slots, in that order)."""
    return [{"role": "user", "content": [
        {"type": "text", "text": f"{PAIR_TASK} Query:"}, {"type": "image"},
        {"type": "text", "text": " Candidate:"}, {"type": "image"},
        {"type": "text", "text": f" {PAIR_RULES}"},
    ]}]


def image_messages(instruction: str) -> list[dict]:
    """The user turn of a one-image instruction (captioning, LVLM-ReID's semantic token)."""
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": f" {instruction}"}]}]


def vocabulary_texts(instructions: tuple[str, ...] = ()) -> list[str]:
    """Every fixed text the model reads or answers, for the demo tokenizer's vocabulary."""
    return [CAPTION_INSTRUCTION, PAIR_TASK, "Query: Candidate:", PAIR_RULES, YES, NO, "user assistant", *instructions]
