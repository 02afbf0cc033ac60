"""The one settings object. Built once from `BOOTHAI_*` environment variables.

Tests build `Settings(...)` with explicit values instead of patching the environment.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.domain import ProviderName
from shared.platform_limits import LAMBDA_BODY_BYTES

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    # populate_by_name: tests pass `Settings(lambda_function_name=…)` as for any other field.
    model_config = SettingsConfigDict(env_prefix="BOOTHAI_", extra="ignore", populate_by_name=True)

    # --- storage -------------------------------------------------------------------------
    storage: Literal["embedded", "aws"] = "embedded"
    data_dir: Path = Path("./boothai-data")
    s3_bucket: str = ""
    s3_endpoint_url: str | None = None
    dynamodb_endpoint_url: str | None = None
    sqs_endpoint_url: str | None = None
    # AWS: the queue feeding the finisher function, where a slot's late jobs go on after the
    # booth's answer (shared/late_results.py). Unset on Lambda: late slots answer in the
    # window, since a function cannot keep working after its response.
    finisher_queue_url: str | None = None
    table_prefix: str = "boothai-"
    aws_region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("BOOTHAI_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    )

    # --- the booth request -----------------------------------------------------------------
    booth_window_seconds: float = 50.0
    # The answer must leave this long before the booth gives up.
    booth_safety_margin_seconds: float = 2.0
    max_upload_mb: float = 25.0
    # Decompression-bomb guard: more pixels than this is refused with 413 before decoding.
    max_pixels: int = 60_000_000
    public_base_url: str | None = None
    # Where booth upload links point when the booth ingest lives elsewhere than the UI
    # (AWS: the ingest Function URL). Unset: the public base URL, else the request's host.
    upload_base_url: str | None = None
    # Where public share pages (`/s/{token}`, served with the operator console) point. Unset:
    # the address the operator's browser used for the console.
    share_base_url: str | None = None
    # Comma-separated in the environment: BOOTHAI_ENABLED_PROVIDERS=local,gemini
    enabled_providers: Annotated[list[ProviderName], NoDecode] = Field(
        default_factory=lambda: list(ProviderName)
    )

    # The image-edit and vision APIs take several files per request (10 × 10 MB per their
    # specs); every other route keeps max_upload_mb.
    max_api_request_mb: float = 101.0
    # Set by the Lambda runtime in every function's environment. On Lambda a Function URL
    # passes at most 6 MB per request and per response (functions/body_limits.py).
    lambda_function_name: str | None = Field(
        default=None,
        validation_alias=AliasChoices("BOOTHAI_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_NAME"))

    # --- vision API ----------------------------------------------------------------------------
    vision_default_model: str = "qwen3_vl_2b"
    vision_timeout_seconds: float = 30.0
    vision_comparison_timeout_seconds: float = 120.0
    fetch_timeout_seconds: float = 15.0
    # Let image_urls reach private/loopback addresses. Only for closed networks and tests:
    # it turns the comparison endpoint into a way to probe the server's own network.
    fetch_allow_private: bool = False
    # Operators (tenant names, comma-separated) who may unload a vision model: the GPU is
    # shared by every tenant, so an unload stalls everyone's next call. Empty: nobody (403).
    gpu_admins: str = ""

    # --- auth and abuse ----------------------------------------------------------------------
    admin_password: SecretStr | None = None
    # Key for HMAC-signed media links and webhook tokens; random per data dir if unset.
    signing_key: SecretStr | None = None
    auth_failures_allowed: int = 10
    auth_failure_window_seconds: int = 300
    # `boothai serve` on the open internet (functions/server.py). Proxies whose
    # X-Forwarded-For is believed: comma-separated IPs or CIDRs. Empty: none, the TCP peer
    # is the client (a pass-through proxy must be named here or the throttle sees only it).
    trusted_proxies: str = ""
    # A connection must complete its request headers this soon after it opens (or after the
    # first byte of a keep-alive request); a booth sends them in one packet.
    header_timeout_seconds: float = 10.0
    # A request body may pause at most this long between chunks (also the grace before the
    # minimum rate below applies).
    body_idle_seconds: float = 10.0
    # Bytes per second a body must average (time the app waits on it, after the grace):
    # 50 KiB/s is the slowest rate at which a 2 MB photo still fits the 50 s booth window.
    body_min_bytes_per_second: int = 50 * 1024
    # Open connections the server holds at most (uvicorn limit_concurrency; 503 beyond).
    max_connections: int = 256
    # Open connections from one address (trusted proxies exempt): a venue NAT with a few
    # booths and an operator browser uses well under this.
    max_connections_per_client: int = 32
    # Requests one client (after X-Forwarded-For from a trusted proxy) may have running at
    # once; more get 429 with Retry-After.
    max_requests_per_client: int = 16
    # Per operator account, from all addresses together: a guesser spread over many addresses
    # gets this many tries per window. Higher than the per-client limit, because reaching it
    # locks the operator out too (except in browsers that logged in before: the UI's
    # credentials are remembered for a minute after a successful check).
    auth_account_failures_allowed: int = 100
    # "Check key" makes a real call on the operator's paid provider key: this many per
    # account per window (every check counts, whatever the provider answered).
    key_checks_allowed: int = 10
    key_check_window_seconds: int = 600

    # --- jobs --------------------------------------------------------------------------------
    media_link_ttl_seconds: int = 900
    # Chroma-key previews (the Local card's tolerance slider) per operator account a minute:
    # the UI sends one per pause of the slider; a script cannot keep the CPUs busy with them.
    key_previews_per_minute: int = 120
    # A fallback provider only starts when at least this much of the window is left.
    fallback_min_seconds: float = 5.0

    # --- cloud providers (keys also under their ecosystem names) ------------------------------
    gemini_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("BOOTHAI_GEMINI_API_KEY", "GEMINI_API_KEY")
    )
    gemini_model: str = "gemini-2.5-flash-image"
    gemini_base_url: str | None = None
    turbotext_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("BOOTHAI_TURBOTEXT_API_KEY", "TURBOTEXT_API_KEY"),
    )
    turbotext_base_url: str = "https://www.turbotext.ru"

    # --- GPU models ------------------------------------------------------------------------------
    gpu_backend: Literal["modal", "inprocess", "off"] = "off"
    qwen_edit_model: str = "Qwen/Qwen-Image-Edit-2509"
    qwen_lightning_lora: str | None = None
    # transformers' native Janus format (deepseek-ai/Janus-Pro-7B is DeepSeek's own format).
    janus_model: str = "deepseek-community/Janus-Pro-7B"
    vision_model_dir: str | None = None
    modal_app_name: str = "boothai-gpu"
    modal_timeout_seconds: float = 600.0
    # Qwen-Image-Edit knobs. Conditioning areas (pixels) default to the pipeline's own
    # (1024² for the VAE, 384² for the text encoder); booth steps None = backend default
    # (50, or 8 with the Lightning LoRA); booth output area defaults to ~1 MP.
    qwen_edit_condition_area: int | None = None
    qwen_edit_vae_area: int | None = None
    qwen_booth_steps: int | None = None
    qwen_booth_area: int | None = None
    gpu_device: str | None = None
    # Speed options, off until measured on a GPU (docs/PERFORMANCE.md): a diffusers attention
    # backend for the denoiser, torch.compile of its repeated blocks, and a smaller VAE
    # conditioning area (pixels) for the reference image (the images after the guest photo).
    qwen_attention_backend: str | None = None
    qwen_compile: bool = False
    qwen_reference_vae_area: int | None = None
    # inprocess backend: unload least recently used models to keep the loaded weights under
    # this many GiB (None: no limit), and load the enabled booth tabs' models at start.
    gpu_memory_budget_gib: float | None = None
    gpu_preload: bool = True

    # The settings a GPU container reads (gpu_jobs, modal_app.py), by field; `modal deploy`
    # hands them to the Modal classes as a Secret. Paths of this machine stay here
    # (vision_model_dir: the containers read the weights volume).
    GPU_CONTAINER_FIELDS: ClassVar[tuple[str, ...]] = (
        "qwen_edit_model", "qwen_lightning_lora", "qwen_edit_condition_area", "qwen_edit_vae_area",
        "qwen_reference_vae_area", "qwen_attention_backend", "qwen_compile", "janus_model",
    )

    def gpu_container_env(self) -> dict[str, str]:
        """`BOOTHAI_*` variables for the GPU containers: the fields above that are set."""
        env: dict[str, str] = {}
        for name in self.GPU_CONTAINER_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool):
                value = "1" if value else "0"
            env[f"BOOTHAI_{name.upper()}"] = str(value)
        return env

    @field_validator("enabled_providers", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("public_base_url", "upload_base_url", "share_base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None

    @property
    def answer_budget_seconds(self) -> float:
        """Seconds from request arrival until the answer must be on its way."""
        return max(0.5, self.booth_window_seconds - self.booth_safety_margin_seconds)

    @property
    def on_lambda(self) -> bool:
        return bool(self.lambda_function_name)

    @property
    def response_body_limit(self) -> int | None:
        """The most bytes one answer's body may have here: Lambda's, else no limit."""
        return LAMBDA_BODY_BYTES if self.on_lambda else None

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @cached_property
    def frontend_dir(self) -> Path:
        return REPO_ROOT / "frontend"
