/**
 * TEST DOUBLE — a throwaway PKI for the fake API server (fake_apiserver.ts) and the tests that
 * trust it: a CA and a server certificate made with openssl.
 */
import { sh } from "../harness/sh.ts";

export interface Pki {
  caCert: string;
  cert: string;
  key: string;
}

/** A throwaway CA and a server certificate for 127.0.0.1 (and `ips`) signed by it (openssl). */
export async function makePki(ips: string[] = []): Promise<Pki> {
  const dir = Deno.makeTempDirSync({ prefix: "wtk-pki-" });
  try {
    const ossl = (...a: string[]) => sh("openssl", ...a);
    // A new P-256 key in NAME.key, with a self-signed certificate (-x509) or a request.
    const ecKey = (name: string, ...rest: string[]) =>
      ossl(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        `${dir}/${name}.key`,
        ...rest,
      );
    await ecKey("ca", "-x509", "-out", `${dir}/ca.crt`, "-days", "2", "-subj", "/CN=wtk-test-ca");
    await ecKey("srv", "-out", `${dir}/srv.csr`, "-subj", "/CN=127.0.0.1");
    Deno.writeTextFileSync(
      `${dir}/ext`,
      `subjectAltName=${["127.0.0.1", ...ips].map((ip) => `IP:${ip}`).join(",")}\n` +
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
    await ossl(
      "x509",
      "-req",
      "-in",
      `${dir}/srv.csr`,
      "-CA",
      `${dir}/ca.crt`,
      "-CAkey",
      `${dir}/ca.key`,
      "-CAcreateserial",
      "-out",
      `${dir}/srv.crt`,
      "-days",
      "2",
      "-extfile",
      `${dir}/ext`,
    );
    return {
      caCert: Deno.readTextFileSync(`${dir}/ca.crt`),
      cert: Deno.readTextFileSync(`${dir}/srv.crt`),
      key: Deno.readTextFileSync(`${dir}/srv.key`),
    };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
