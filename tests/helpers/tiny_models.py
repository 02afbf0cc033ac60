"""Tiny random models, built offline and saved with `save_pretrained`, so tests load them back
through the same `from_pretrained` code the runners use in production.

Sizes follow the diffusers/transformers tiny-config habit: 2 layers, 16-dim hidden states,
`torch.manual_seed(0)` before building, 32×32 images. Each builder returns the folder.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# A minimal Qwen-VL chat template: images and text in one user turn.
QWEN_VL_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

JANUS_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}<|User|>: {% else %}<|Assistant|>: {% endif %}"
    "{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<image_placeholder>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}\n\n{% endfor %}"
    "{% if add_generation_prompt %}<|Assistant|>:{% endif %}"
)


@contextmanager
def quiet_build() -> Iterator[None]:
    """Silence the UserWarnings transformers/diffusers emit while building random models
    (e.g. the torchvision fallback notice); pytest runs with filterwarnings=error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _byte_vocab() -> dict[str, int]:
    from tokenizers.pre_tokenizers import ByteLevel

    return {c: i for i, c in enumerate(sorted(ByteLevel.alphabet()))}


def qwen_tokenizer(extra_special: list[str] | None = None):
    """A byte-level Qwen2 tokenizer (no merges) with the Qwen special tokens."""
    from transformers import Qwen2Tokenizer

    tok = Qwen2Tokenizer(
        vocab=_byte_vocab(),
        merges=[],
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tok.add_tokens(QWEN_SPECIAL_TOKENS + (extra_special or []), special_tokens=True)
    return tok


def _qwen_token_ids(tok) -> dict[str, int]:
    return {
        "image_token_id": tok.convert_tokens_to_ids("<|image_pad|>"),
        "video_token_id": tok.convert_tokens_to_ids("<|video_pad|>"),
        "vision_start_token_id": tok.convert_tokens_to_ids("<|vision_start|>"),
        "vision_end_token_id": tok.convert_tokens_to_ids("<|vision_end|>"),
    }


def _text_tokens(tok) -> dict[str, int]:
    return {
        "bos_token_id": tok.convert_tokens_to_ids("<|endoftext|>"),
        "eos_token_id": tok.convert_tokens_to_ids("<|im_end|>"),
        "pad_token_id": tok.convert_tokens_to_ids("<|endoftext|>"),
    }


def _save_image_only_processor(folder: Path, tok, image_processor, chat_template: str) -> None:
    """Qwen-VL processors refuse `video_processor=None` when saving; save the parts instead
    (tokenizer + image processor + chat template), which is what `from_pretrained` reads."""
    tok.chat_template = chat_template
    tok.save_pretrained(folder)
    image_processor.save_pretrained(folder)
    (folder / "chat_template.jinja").write_text(chat_template)


# --- Qwen-Image-Edit-Plus ------------------------------------------------------------------


def build_qwen_image_edit(folder: Path) -> Path:
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImageEditPlusPipeline,
        QwenImageTransformer2DModel,
    )
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLImageProcessor,
    )

    folder = Path(folder)
    with quiet_build():
        tok = qwen_tokenizer()
        torch.manual_seed(0)
        text_encoder = Qwen2_5_VLForConditionalGeneration(
            Qwen2_5_VLConfig(
                text_config={
                    "vocab_size": len(tok),
                    "hidden_size": 16,
                    "intermediate_size": 32,
                    "num_hidden_layers": 2,
                    "num_attention_heads": 2,
                    "num_key_value_heads": 1,
                    "max_position_embeddings": 1024,
                    "rope_parameters": {
                        "rope_type": "default",
                        "rope_theta": 1e6,
                        "mrope_section": [1, 1, 2],
                    },
                    **_text_tokens(tok),
                },
                vision_config={
                    "depth": 2,
                    "hidden_size": 16,
                    "intermediate_size": 32,
                    "num_heads": 2,
                    "out_hidden_size": 16,
                    "fullatt_block_indexes": [1],
                    "patch_size": 14,
                    "spatial_merge_size": 2,
                    "temporal_patch_size": 2,
                },
                **_qwen_token_ids(tok),
            )
        ).eval()
        torch.manual_seed(0)
        transformer = QwenImageTransformer2DModel(
            patch_size=2,
            in_channels=16,
            out_channels=4,
            num_layers=2,
            attention_head_dim=16,
            num_attention_heads=3,
            joint_attention_dim=16,
            axes_dims_rope=(8, 4, 4),
        )
        torch.manual_seed(0)
        vae = AutoencoderKLQwenImage(
            base_dim=24,
            z_dim=4,
            dim_mult=[1, 2, 4],
            num_res_blocks=1,
            temperal_downsample=[False, True],
            latents_mean=[0.0] * 4,
            latents_std=[1.0] * 4,
        )
        image_processor = Qwen2VLImageProcessor()
        scheduler = FlowMatchEulerDiscreteScheduler()

        for name, component in [
            ("text_encoder", text_encoder),
            ("transformer", transformer),
            ("vae", vae),
            ("scheduler", scheduler),
            ("tokenizer", tok),
        ]:
            component.save_pretrained(folder / name)
        tok.save_pretrained(folder / "processor")
        image_processor.save_pretrained(folder / "processor")
    index = {
        "_class_name": QwenImageEditPlusPipeline.__name__,
        "_diffusers_version": __import__("diffusers").__version__,
        "processor": ["transformers", "Qwen2VLProcessor"],
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "Qwen2_5_VLForConditionalGeneration"],
        "tokenizer": ["transformers", "Qwen2Tokenizer"],
        "transformer": ["diffusers", "QwenImageTransformer2DModel"],
        "vae": ["diffusers", "AutoencoderKLQwenImage"],
    }
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    return folder


# --- Janus ---------------------------------------------------------------------------------

JANUS_IMAGE_SIZE = 32
JANUS_PATCH = 8  # 4×4 grid → 16 image tokens; the VQ decoder upsamples the grid ×2 → 8×8 px


def build_janus(folder: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        GenerationConfig,
        JanusConfig,
        JanusForConditionalGeneration,
        JanusProcessor,
        LlamaTokenizerFast,
    )
    from transformers.models.janus.image_processing_pil_janus import JanusImageProcessorPil

    folder = Path(folder)
    with quiet_build():
        backend = Tokenizer(models.BPE(vocab=_byte_vocab(), merges=[]))
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        tok = LlamaTokenizerFast(
            tokenizer_object=backend,
            bos_token="<｜begin▁of▁sentence｜>",
            eos_token="<｜end▁of▁sentence｜>",
            pad_token="<｜▁pad▁｜>",
            extra_special_tokens={
                "image_token": "<image_placeholder>",
                "boi_token": "<begin_of_image>",
                "eoi_token": "<end_of_image>",
            },
        )
        grid = JANUS_IMAGE_SIZE // JANUS_PATCH
        config = JanusConfig(
            text_config={
                "model_type": "llama",
                "vocab_size": len(tok),
                "hidden_size": 16,
                "intermediate_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "num_key_value_heads": 2,
                "max_position_embeddings": 512,
                "bos_token_id": tok.bos_token_id,
                "eos_token_id": tok.eos_token_id,
                "pad_token_id": tok.pad_token_id,
            },
            vision_config={
                "hidden_size": 16,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "image_size": JANUS_IMAGE_SIZE,
                "patch_size": JANUS_PATCH,
                "projection_dim": 16,
                "depth": 2,
                "mlp_ratio": 2.0,
                "num_image_tokens": grid * grid,
            },
            vq_config={
                "embed_dim": 4,
                "num_embeddings": 32,
                # the VQ-VAE's GroupNorm uses 32 groups: channels must be multiples of 32
                "latent_channels": 32,
                "base_channels": 32,
                "channel_multiplier": [1, 2],
                "num_res_blocks": 1,
                "projection_dim": 16,
                "image_token_embed_dim": 16,
                "num_hidden_layers": 2,
            },
            image_token_id=tok.convert_tokens_to_ids("<image_placeholder>"),
        )
        torch.manual_seed(0)
        model = JanusForConditionalGeneration(config).eval()
        model.generation_config = GenerationConfig(
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            guidance_scale=5.0,
            generation_kwargs={"boi_token_id": tok.convert_tokens_to_ids("<begin_of_image>")},
        )
        processor = JanusProcessor(
            image_processor=JanusImageProcessorPil(
                size={"height": JANUS_IMAGE_SIZE, "width": JANUS_IMAGE_SIZE}
            ),
            tokenizer=tok,
            chat_template=JANUS_CHAT_TEMPLATE,
            num_image_tokens=grid * grid,
        )
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
    return folder


# --- Qwen3-VL / Qwen2-VL ---------------------------------------------------------------------


def build_qwen3_vl(folder: Path) -> Path:
    from transformers import Qwen2VLImageProcessor, Qwen3VLConfig, Qwen3VLForConditionalGeneration

    folder = Path(folder)
    with quiet_build():
        tok = qwen_tokenizer()
        config = Qwen3VLConfig(
            text_config={
                "vocab_size": len(tok),
                "hidden_size": 16,
                "intermediate_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "num_key_value_heads": 1,
                "head_dim": 8,
                "max_position_embeddings": 1024,
                "rope_parameters": {
                    "rope_type": "default",
                    "rope_theta": 5e6,
                    "mrope_section": [2, 1, 1],
                    "mrope_interleaved": True,
                },
                **_text_tokens(tok),
            },
            vision_config={
                "depth": 2,
                "hidden_size": 16,
                "intermediate_size": 32,
                "num_heads": 2,
                "patch_size": 16,
                "spatial_merge_size": 2,
                "temporal_patch_size": 2,
                "out_hidden_size": 16,
                "num_position_embeddings": 16,
                "deepstack_visual_indexes": [1],
            },
            **_qwen_token_ids(tok),
        )
        torch.manual_seed(0)
        model = Qwen3VLForConditionalGeneration(config).eval()
        model.generation_config.pad_token_id = tok.pad_token_id
        model.generation_config.eos_token_id = tok.eos_token_id
        model.save_pretrained(folder)
        image_processor = Qwen2VLImageProcessor(
            patch_size=16,
            merge_size=2,
            temporal_patch_size=2,
            size={"shortest_edge": 32 * 32, "longest_edge": 64 * 64},
        )
        _save_image_only_processor(folder, tok, image_processor, QWEN_VL_CHAT_TEMPLATE)
    return folder


def build_qwen2_vl(folder: Path) -> Path:
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessor

    folder = Path(folder)
    with quiet_build():
        tok = qwen_tokenizer()
        config = Qwen2VLConfig(
            text_config={
                "vocab_size": len(tok),
                "hidden_size": 16,
                "intermediate_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "num_key_value_heads": 1,
                "max_position_embeddings": 1024,
                "rope_parameters": {
                    "rope_type": "default",
                    "rope_theta": 1e6,
                    "mrope_section": [1, 1, 2],
                },
                **_text_tokens(tok),
            },
            vision_config={
                "depth": 2,
                "embed_dim": 16,
                "hidden_size": 16,
                "mlp_ratio": 2,
                "num_heads": 2,
                "patch_size": 14,
                "spatial_merge_size": 2,
                "temporal_patch_size": 2,
            },
            **_qwen_token_ids(tok),
        )
        torch.manual_seed(0)
        model = Qwen2VLForConditionalGeneration(config).eval()
        model.generation_config.pad_token_id = tok.pad_token_id
        model.generation_config.eos_token_id = tok.eos_token_id
        model.save_pretrained(folder)
        image_processor = Qwen2VLImageProcessor(size={"shortest_edge": 28 * 28, "longest_edge": 56 * 56})
        _save_image_only_processor(folder, tok, image_processor, QWEN_VL_CHAT_TEMPLATE)
    return folder


# --- GOT-OCR 2.0 -------------------------------------------------------------------------------

GOT_IMAGE_SIZE = 64
GOT_PATCH = 4  # 16×16 grid; the projector's two stride-2 convs → 4×4 = 16 image tokens


def build_got_ocr2(folder: Path) -> Path:
    from transformers import GotOcr2Config, GotOcr2ForConditionalGeneration, GotOcr2Processor
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import (
        GotOcr2ImageProcessorPil,
    )

    folder = Path(folder)
    with quiet_build():
        tok = qwen_tokenizer(extra_special=["<img>", "</img>", "<imgpad>"])
        config = GotOcr2Config(
            text_config={
                "model_type": "qwen2",
                "vocab_size": len(tok),
                "hidden_size": 16,
                "intermediate_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "num_key_value_heads": 1,
                "max_position_embeddings": 1024,
                **_text_tokens(tok),
            },
            vision_config={
                "hidden_size": 16,
                "output_channels": 8,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "image_size": GOT_IMAGE_SIZE,
                "patch_size": GOT_PATCH,
                "window_size": 4,
                "global_attn_indexes": [1],
                "mlp_dim": 32,
            },
            image_token_index=tok.convert_tokens_to_ids("<imgpad>"),
            image_seq_length=16,
        )
        torch.manual_seed(0)
        model = GotOcr2ForConditionalGeneration(config).eval()
        model.generation_config.pad_token_id = tok.pad_token_id
        model.generation_config.eos_token_id = tok.eos_token_id
        model.save_pretrained(folder)
        processor = GotOcr2Processor(
            image_processor=GotOcr2ImageProcessorPil(
                size={"height": GOT_IMAGE_SIZE, "width": GOT_IMAGE_SIZE}
            ),
            tokenizer=tok,
        )
        processor.num_image_tokens = 16
        processor.save_pretrained(folder)
    return folder


# --- a Lightning-style LoRA for the tiny Qwen-Image-Edit ---------------------------------------

LIGHTNING_WEIGHT = "lightning-8steps.safetensors"


def build_qwen_lightning_lora(folder: Path) -> Path:
    """A LoRA over the tiny transformer's attention projections, non-zero (so fusing it
    changes the weights), saved the way diffusers saves Qwen-Image LoRAs."""
    from diffusers import QwenImageEditPlusPipeline, QwenImageTransformer2DModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    folder = Path(folder)
    base = tiny_model("qwen_image_edit", folder.parent)
    with quiet_build():
        transformer = QwenImageTransformer2DModel.from_pretrained(base / "transformer")
        torch.manual_seed(1)
        transformer.add_adapter(LoraConfig(r=2, lora_alpha=2, init_lora_weights=False,
                                           target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
        QwenImageEditPlusPipeline.save_lora_weights(
            folder, transformer_lora_layers=get_peft_model_state_dict(transformer),
            weight_name=LIGHTNING_WEIGHT)
    return folder


BUILDERS = {
    "qwen_image_edit": build_qwen_image_edit,
    "qwen_lightning_lora": build_qwen_lightning_lora,
    "janus": build_janus,
    "qwen3_vl": build_qwen3_vl,
    "qwen2_vl": build_qwen2_vl,
    "got_ocr2": build_got_ocr2,
}


_BUILT: dict[str, Path] = {}


def tiny_model(name: str, root: Path) -> Path:
    """Build `name` once per process under `root` (session fixtures share it)."""
    if name not in _BUILT:
        _BUILT[name] = BUILDERS[name](Path(root) / name)
    return _BUILT[name]


def png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    """A solid-colour PNG with a gradient stripe (so images differ beyond their colour)."""
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, color)
    ImageDraw.Draw(img).line([(0, 0), (size[0] - 1, size[1] - 1)], fill=(255, 255, 255), width=2)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
