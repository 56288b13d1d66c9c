//! Certificate signing requests for finalize (RFC 8555 §7.4, RFC 2986).

use rcgen::{CertificateParams, DistinguishedName};

use crate::certkey::CertKey;
use crate::error::{Error, Result};

/// A DER CSR for `names` (subjectAltName dNSNames, wildcards allowed), signed by `key`.
///
/// The subject is empty: CAs take the names from the SANs, and rcgen's default subject
/// (`CN=rcgen self signed cert`) must not leak into a request.
pub fn csr_der(names: &[String], key: &CertKey) -> Result<Vec<u8>> {
    if names.is_empty() {
        return Err(Error::Csr("no names".into()));
    }
    let mut params =
        CertificateParams::new(names.to_vec()).map_err(|e| Error::Csr(e.to_string()))?;
    params.distinguished_name = DistinguishedName::new();
    let csr = params
        .serialize_request(key.key_pair())
        .map_err(|e| Error::Csr(e.to_string()))?;
    Ok(csr.der().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certkey::CertKeyType;
    use x509_parser::prelude::*;

    #[test]
    fn csr_has_sans_and_no_subject() {
        let key = CertKey::generate(CertKeyType::Ec256).expect("key");
        let names = vec!["*.example.org".to_owned(), "example.org".to_owned()];
        let der = csr_der(&names, &key).expect("csr");
        let (_, csr) = X509CertificationRequest::from_der(&der).expect("parses");
        csr.verify_signature().expect("self-signature verifies");
        assert_eq!(csr.certification_request_info.subject.iter().count(), 0);
        let mut sans = Vec::new();
        for ext in csr.requested_extensions().into_iter().flatten() {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                for n in &san.general_names {
                    if let GeneralName::DNSName(d) = n {
                        sans.push(d.to_string());
                    }
                }
            }
        }
        assert_eq!(sans, names);
        assert_eq!(
            csr.certification_request_info
                .subject_pki
                .subject_public_key
                .data
                .as_ref(),
            key.public_key_raw()
        );
    }

    #[test]
    fn rsa_csr() {
        let key = CertKey::generate(CertKeyType::Rsa2048).expect("key");
        let der = csr_der(&["example.org".to_owned()], &key).expect("csr");
        let (_, csr) = X509CertificationRequest::from_der(&der).expect("parses");
        csr.verify_signature().expect("verifies");
    }
}
