"""The `aws-kms` key provider: `KMS_KEY=aws-kms:<key id | key ARN | alias/name | alias ARN>`.

Data keys come from KMS `GenerateDataKey` and are unwrapped by `Decrypt`,
both with an encryption context naming the data key's owner and id, so KMS
refuses to unwrap a data key for any other tenant and CloudTrail shows
whose key each call was for. `hub keys rotate` calls `ReEncrypt` to the
configured key: point an alias at a new KMS key, then rotate. Credentials
and region come from boto3's usual chain (environment, shared files, instance
or task role); `AWS_ENDPOINT_URL_KMS` points boto3 at another endpoint.
Needs `pip install 'hub[aws]'`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from hub.errors import ConfigurationError, DecryptionFailed, KeyProviderUnavailable
from hub.storage.key_providers import KeyProvider, WrappedKey

log = logging.getLogger(__name__)

# Error codes that say "not now" rather than "no".
PASSING_ERRORS = {
    "ThrottlingException", "KMSInternalException", "DependencyTimeoutException", "KeyUnavailableException",
    "ServiceUnavailableException", "InternalFailure", "RequestTimeout", "RequestTimeoutException",
}
# One call, retries included, ends well inside a webhook provider's timeout.
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 5
MAX_ATTEMPTS = 2


class AwsKmsProvider(KeyProvider):
    name = "aws-kms"

    def __init__(self, spec: str, settings: Mapping[str, Any] | None = None) -> None:
        spec = spec.strip()
        if not spec:
            raise ConfigurationError("KMS_KEY=aws-kms: needs a key id, key ARN or alias (aws-kms:alias/hub)")
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise ConfigurationError("KMS_KEY=aws-kms needs boto3: pip install 'hub[aws]'") from None
        self.key = spec
        config = Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS,
            retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        )
        try:
            self._client = boto3.session.Session().client("kms", config=config)
        except Exception as error:  # no region configured, a bad endpoint URL
            raise ConfigurationError(f"KMS_KEY=aws-kms: boto3 cannot make a KMS client ({type(error).__name__}: {error})") from None

    def _call(self, operation: str, refused: type[Exception], **arguments: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client, operation)(**arguments)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in PASSING_ERRORS or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
                log.warning("KMS %s failed for now: %s", operation, code)
                raise KeyProviderUnavailable() from None
            log.error("KMS refused %s: %s", operation, code)
            raise refused(f"KMS refused {operation} ({code})") from None
        except BotoCoreError as error:  # unreachable, timed out, no credentials
            log.warning("KMS %s unreachable: %s", operation, type(error).__name__)
            raise KeyProviderUnavailable() from None

    def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, WrappedKey]:
        answer = self._call(
            "generate_data_key", KeyProviderUnavailable, KeyId=self.key, KeySpec="AES_256", EncryptionContext=dict(context)
        )
        return answer["Plaintext"], WrappedKey(answer["KeyId"], answer["CiphertextBlob"])

    def unwrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> bytes:
        answer = self._call(
            "decrypt", DecryptionFailed, CiphertextBlob=wrapped.blob, KeyId=wrapped.master_key_id, EncryptionContext=dict(context)
        )
        return answer["Plaintext"]

    def rewrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> WrappedKey:
        answer = self._call(
            "re_encrypt", DecryptionFailed, CiphertextBlob=wrapped.blob, SourceKeyId=wrapped.master_key_id,
            SourceEncryptionContext=dict(context), DestinationKeyId=self.key, DestinationEncryptionContext=dict(context),
        )
        return WrappedKey(answer["KeyId"], answer["CiphertextBlob"])

    def current_master_key_id(self) -> str:
        return self._call("describe_key", KeyProviderUnavailable, KeyId=self.key)["KeyMetadata"]["Arn"]
