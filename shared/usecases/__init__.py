"""One use case per HTTP function: the function parses the request, calls its use case,
and shapes the answer. A use case receives typed ports in its constructor, owns the rules
of its part of the service, and declares (`access()`) every table, object prefix and
secret it and its components touch — which tests/infra/test_iam.py holds against the
function's policies in template.yaml.

  booth.BoothIngest           POST /u/{token}                       (ingest function)
  console.OperatorConsole     /api/… for the operator UI             (console function)
  health.ServiceHealth        GET /health                            (console function)
  image_edits.ImageEdits      POST /v1/images/edits, GET /ready      (images function)
  vision.Vision               comparison, OCR, chat, models          (vision function)
  webhooks.ProviderWebhooks   POST /hooks/turbotext/{job}            (webhooks function)
  signed_media.SignedMedia    GET /media/{key} (embedded mode only: on AWS, S3 presigns)
"""
