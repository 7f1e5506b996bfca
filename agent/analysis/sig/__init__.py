"""Signature proof: CMS/PKCS#7 verification, Authenticode digests, chain building to trusted roots."""
