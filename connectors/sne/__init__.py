"""SNE web services: WSDL facts, SOAP/MTOM codec, client, simulator and gateway (issue 3)."""
