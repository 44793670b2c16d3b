"""The SNS links a subscriber follows without signing a request, as on AWS: the certificate that
verifies message signatures (SigningCertURL), the SubscribeURL of a SubscriptionConfirmation (the
token authorises it) and a notification's UnsubscribeURL. Served under `/_lamina/sns/`."""

from __future__ import annotations

from xml.sax.saxutils import escape

from lamina.errors import AwsError
from lamina.protocol.http import HttpRequest, HttpResponse
from lamina.sources.topics.delivery import LINKS_PREFIX
from lamina.sources.topics.service import TopicService
from lamina.sources.topics.signing import CERTIFICATE_NAME, MessageSigner

__all__ = ["SnsLinks"]

_NAMESPACE = "http://sns.amazonaws.com/doc/2010-03-31/"


def _xml(status: int, body: str) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "text/xml")], body.encode())


class SnsLinks:
    def __init__(self, service: TopicService, signer: MessageSigner) -> None:
        self._service = service
        self._signer = signer

    async def handle(self, request: HttpRequest) -> HttpResponse | None:
        """The answer for a path under `/_lamina/sns/`, or None for any other path."""
        path = request.raw_path
        if not path.startswith(LINKS_PREFIX + "/") or request.method != "GET":
            return None
        query = dict(request.query)
        try:
            if path == f"{LINKS_PREFIX}/{CERTIFICATE_NAME}":
                return HttpResponse(
                    200, [("Content-Type", "application/x-pem-file")], self._signer.certificate
                )
            if path == f"{LINKS_PREFIX}/confirm":
                subscription = await self._service.confirm(query.get("TopicArn", ""), query.get("Token", ""))
                return _xml(
                    200,
                    f'<ConfirmSubscriptionResponse xmlns="{_NAMESPACE}"><ConfirmSubscriptionResult>'
                    f"<SubscriptionArn>{escape(subscription.arn)}</SubscriptionArn></ConfirmSubscriptionResult>"
                    "</ConfirmSubscriptionResponse>",
                )
            if path == f"{LINKS_PREFIX}/unsubscribe":
                arn = query.get("SubscriptionArn", "")
                if self._service.subscription(arn).authenticated_unsubscribe:
                    raise AwsError(
                        "AuthorizationError",
                        "This subscription can only be removed by an authenticated Unsubscribe",
                        403,
                    )
                await self._service.unsubscribe(arn)
                return _xml(200, f'<UnsubscribeResponse xmlns="{_NAMESPACE}"></UnsubscribeResponse>')
        except AwsError as error:
            return _xml(
                error.status,
                f'<ErrorResponse xmlns="{_NAMESPACE}"><Error><Type>Sender</Type><Code>{escape(error.code)}</Code>'
                f"<Message>{escape(error.message)}</Message></Error></ErrorResponse>",
            )
        return None
