"""SOAP Fault answers as receivers write them, taken from the specifications (never produced
by the hub's own code), and what ``hub deliver`` must make of each (docs/api.md, "SOAP
push": a business Fault closes its record, a fault saying "try again later" and anything
that is no Fault are retried).

* SOAP 1.1 (W3C Note, 8 May 2000): §6.3's "SOAP Fault" response (``SOAP-ENV:Server``
  with a ``detail``), the same with ``SOAP-ENV:Client`` (§4.4.1's class of faults "the
  message was incorrectly formed"), §4.4's ``MustUnderstand`` example; sent with HTTP 500
  as §6.2 says.
* SOAP 1.2 Part 1 (W3C Recommendation, 2007): §5.4.8's example 4, "Sample SOAP message
  containing a SOAP fault" (``env:Sender``, subcode ``m:MessageTimeout``, a ``Detail``),
  the same with ``env:Receiver``, and §5.4.7's ``VersionMismatch``; the HTTP status of
  Part 2 §7.5.1.2 (400 for Sender, 500 otherwise) unless a case says 503.
* the SNE's own "try again later": the hub's SOAP gateway answers a ``Receiver`` fault
  whose ``demandeLogementException/code`` is ``sne_unavailable`` (docs/connectors-soap.md),
  written here by hand as a receiver relaying it could (HTTP 500: a proxy may rewrite 503).
"""

from __future__ import annotations

from dataclasses import dataclass

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"


def _soap11(code: str, string: str, detail: str = "") -> bytes:
    return f"""<SOAP-ENV:Envelope
  xmlns:SOAP-ENV="{SOAP11_ENV}">
   <SOAP-ENV:Body>
       <SOAP-ENV:Fault>
           <faultcode>{code}</faultcode>
           <faultstring>{string}</faultstring>{detail}
       </SOAP-ENV:Fault>
   </SOAP-ENV:Body>
</SOAP-ENV:Envelope>""".encode()


SOAP11_DETAIL = """
           <detail>
               <e:myfaultdetails xmlns:e="Some-URI">
                 <message>
                   My application didn't work
                 </message>
                 <errorcode>
                   1001
                 </errorcode>
               </e:myfaultdetails>
           </detail>"""


def _soap12(value: str) -> bytes:
    return f"""<env:Envelope xmlns:env="{SOAP12_ENV}"
              xmlns:m="http://www.example.org/timeouts"
              xmlns:xml="http://www.w3.org/XML/1998/namespace">
 <env:Body>
  <env:Fault>
   <env:Code>
     <env:Value>{value}</env:Value>
     <env:Subcode>
      <env:Value>m:MessageTimeout</env:Value>
     </env:Subcode>
   </env:Code>
   <env:Reason>
     <env:Text xml:lang="en">Sender Timeout</env:Text>
   </env:Reason>
   <env:Detail>
     <m:MaxTime>P5M</m:MaxTime>
   </env:Detail>
  </env:Fault>
 </env:Body>
</env:Envelope>""".encode()


VERSION_MISMATCH = f"""<env:Envelope xmlns:env="{SOAP12_ENV}">
 <env:Header>
  <env:Upgrade>
   <env:SupportedEnvelope qname="ns1:Envelope" xmlns:ns1="{SOAP12_ENV}"/>
  </env:Upgrade>
 </env:Header>
 <env:Body>
  <env:Fault>
   <env:Code><env:Value>env:VersionMismatch</env:Value></env:Code>
   <env:Reason>
    <env:Text xml:lang="en">Version Mismatch</env:Text>
   </env:Reason>
  </env:Fault>
 </env:Body>
</env:Envelope>""".encode()

SNE_UNAVAILABLE = f"""<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="{SOAP12_ENV}"><soap:Body><soap:Fault>
<soap:Code><soap:Value>soap:Receiver</soap:Value></soap:Code>
<soap:Reason><soap:Text xml:lang="fr">SNE injoignable</soap:Text></soap:Reason>
<soap:Detail><ns2:demandeLogementException xmlns:ns2="http://ws.metier.nuu.application.i2/">
<code>sne_unavailable</code><message>SNE injoignable</message>
</ns2:demandeLogementException></soap:Detail></soap:Fault></soap:Body></soap:Envelope>""".encode()

HTML_502 = b"""<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx</center>
</body>
</html>"""


PORTAL_200 = b"""<html><head><title>Connexion requise</title></head>
<body><form action="/login" method="post">Identifiez-vous pour continuer</form></body></html>"""


@dataclass(frozen=True, slots=True)
class Case:
    status: int
    content_type: str
    body: bytes
    #: the outbox row's ``last_error`` when the record is closed; None: retried
    closed_as: str | None


TEXT_XML = 'text/xml; charset="utf-8"'
SOAP_XML = "application/soap+xml; charset=utf-8"

CASES = {
    "1.1 Client fault": Case(500, TEXT_XML, _soap11("SOAP-ENV:Client", "Client Error"),
                             "SOAP Fault SOAP-ENV:Client: Client Error"),
    "1.1 Server fault, HTTP 500": Case(
        500, TEXT_XML, _soap11("SOAP-ENV:Server", "Server Error", SOAP11_DETAIL),
        "SOAP Fault SOAP-ENV:Server: Server Error"),
    "1.1 Server fault, HTTP 503": Case(
        503, TEXT_XML, _soap11("SOAP-ENV:Server", "Server Error", SOAP11_DETAIL), None),
    "1.1 MustUnderstand fault": Case(
        500, TEXT_XML, _soap11("SOAP-ENV:MustUnderstand", "SOAP Must Understand Error"), None),
    "1.2 Sender fault with a detail": Case(400, SOAP_XML, _soap12("env:Sender"),
                                           "SOAP Fault m:MessageTimeout: Sender Timeout"),
    "1.2 Receiver fault, HTTP 500": Case(500, SOAP_XML, _soap12("env:Receiver"),
                                         "SOAP Fault m:MessageTimeout: Sender Timeout"),
    "1.2 Receiver fault, HTTP 503": Case(503, SOAP_XML, _soap12("env:Receiver"), None),
    "1.2 VersionMismatch fault": Case(500, SOAP_XML, VERSION_MISMATCH, None),
    "sne_unavailable fault, HTTP 500": Case(500, SOAP_XML, SNE_UNAVAILABLE, None),
    "malformed 500 body": Case(500, SOAP_XML, _soap11("SOAP-ENV:Client", "x")[:-30], None),
    "non-XML 500 body": Case(500, "text/plain", b"Internal Server Error", None),
    "HTML 502 from a proxy": Case(502, "text/html", HTML_502, None),
    # a 2xx that is a page, not the ERP's answer (a captive portal, a web server's default
    # page behind a misrouted proxy): retried, never counted delivered (audit F)
    "HTML 200 from a portal": Case(200, "text/html; charset=utf-8", PORTAL_200, None),
    "XHTML 200, no charset": Case(200, "application/xhtml+xml", PORTAL_200, None),
    "HTML 200 labelled as SOAP": Case(200, SOAP_XML, PORTAL_200, None),
    "HTML 200 without a content type": Case(200, "", b"\n  <!DOCTYPE html>" + PORTAL_200,
                                            None),
}  # fmt: skip
