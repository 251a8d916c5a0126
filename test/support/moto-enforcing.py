"""moto_server with one fix for IAM enforcement, for test/support/moto-iam.ts.

moto checks a request's SigV4 signature against the URL werkzeug rebuilds, whose query string has
'%2F' decoded to '/', while every SDK signs the query as sent: with enforcement on, a listing with
a prefix such as 'results/b1/' fails with SignatureDoesNotMatch (getmoto/moto#5948, moto 5.2).
This keeps the query string as the client sent it for that check; nothing else changes.
"""

import sys

from moto import server
from moto.core.responses import BaseResponse

_setup_class = BaseResponse.setup_class


def setup_class(self, request, full_url, headers, use_raw_body=False):
    _setup_class(self, request, full_url, headers, use_raw_body)
    raw = getattr(request, "environ", {}).get("QUERY_STRING")
    if raw:
        self.uri = self.uri.split("?", 1)[0] + "?" + raw


BaseResponse.setup_class = setup_class

if __name__ == "__main__":
    server.main(sys.argv[1:])
