"""ImageEdits: the form's fields checked against the API's ranges, images by decoding, one
typed request to the GPU backend."""

from __future__ import annotations

import pytest

from shared.errors import InvalidInput, ModelNotReady, PayloadTooLarge, Unauthorized
from shared.gpu import EditRequest
from shared.gpu.off import OffGpuBackend
from shared.usecases.image_edits import MAX_IMAGE_BYTES, EditParameters, ImageEdits, UploadedImage
from tests.helpers import photos


def test_fields_become_checked_parameters():
    params = EditParameters.from_fields({"prompt": "make it blue", "n": "2", "size": "1000x500",
                                         "seed": "7", "guidance_scale": "3.5"})
    assert (params.n, params.size, params.seed, params.max_sequence_length) == (2, (992, 496), 7, 512)
    assert EditParameters.from_fields({"prompt": "x", "size": "auto"}).size is None


@pytest.mark.parametrize("fields, field", [
    ({}, "prompt"),
    ({"prompt": "x", "n": "11"}, "n"),
    ({"prompt": "x", "n": "two"}, "n"),
    ({"prompt": "x", "size": "4096x4096"}, "size"),
    ({"prompt": "x", "output_type": "latent"}, "output_type"),
    ({"prompt": "x", "response_format": "link"}, "response_format"),
    ({"prompt": "x", "quality": "high"}, "quality"),
    ({"prompt": "x", "output_format": "gif"}, "output_format"),
    ({"prompt": "x", "stream": "true"}, "stream"),
])
def test_bad_fields_name_the_field(fields, field):
    with pytest.raises(InvalidInput) as err:
        EditParameters.from_fields(fields)
    assert err.value.field == field


async def test_each_input_is_edited_on_its_own(services, gpu):
    params = EditParameters.from_fields({"prompt": "add a hat", "n": "2"})
    uploads = [UploadedImage(photos.background(300, 200), "a.jpg"),
               UploadedImage(photos.solid_png(64, 64), "b.png")]
    result = await services.image_edits.edit(params, uploads)
    assert result.input_count == 2 and len(result.images) == 4
    (request,) = gpu.requests
    assert isinstance(request, EditRequest) and request.per_input and request.n == 2
    assert request.prompt == "add a hat" and len(request.images) == 2


async def test_images_are_judged_by_decoding(services, gpu):
    params = EditParameters.from_fields({"prompt": "x"})
    with pytest.raises(InvalidInput, match="Invalid image format at index 1: image 2"):
        await services.image_edits.edit(params, [UploadedImage(photos.solid_png()),
                                                 UploadedImage(b"GIF89a nope", "x.gif")])
    with pytest.raises(PayloadTooLarge, match="image 1"):
        await services.image_edits.edit(params, [UploadedImage(b"x" * (MAX_IMAGE_BYTES + 1))])
    with pytest.raises(InvalidInput, match="at least one image"):
        await services.image_edits.edit(params, [])
    assert gpu.requests == []  # nothing reached the backend


async def test_backend_off_is_model_not_ready(services):
    edits = ImageEdits(settings=services.settings, gpu=OffGpuBackend())
    with pytest.raises(ModelNotReady, match="BOOTHAI_GPU_BACKEND=off"):
        await edits.edit(EditParameters.from_fields({"prompt": "x"}),
                         [UploadedImage(photos.solid_png())])
    with pytest.raises(ModelNotReady):
        await edits.ready()
    assert await services.image_edits.ready() == "inprocess"


async def test_the_api_functions_build_no_signer_store_or_providers(tmp_path, gpu):
    """The images and vision Lambdas get no signing key (template.yaml): nothing they build
    may need one."""
    from shared.config import Settings
    from shared.services import build_services

    services = build_services(Settings(data_dir=tmp_path / "d", enabled_providers=["local"]),
                              gpu=gpu)
    await services.image_edits.ready()
    await services.vision.models()
    with pytest.raises(Unauthorized):  # API-key auth: tables only
        await services.auth.api_client("Bearer bth_unknown", "10.0.0.9")
    built = set(services.__dict__)
    assert {"signer", "store", "providers", "pipeline"}.isdisjoint(built), built


def test_linked_outputs_always_have_a_valid_object_key() -> None:
    """Found by CI: a request id from token_urlsafe began with "-" one time in 32, the
    store refused the key, and the caller got a 500 for a finished edit."""
    from shared import object_keys
    from shared.ports import check_object_key
    from shared.usecases.image_edits import new_request_id

    ids = {new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for request_id in ids:
        check_object_key(object_keys.edit_output("acme", request_id, 0, "image/png"))
