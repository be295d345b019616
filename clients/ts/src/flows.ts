// The mini-program's and a department's main flows, written against the client that
// openapi-typescript generates from /openapi.json (src/schema.d.ts): no hand-written
// types. `npm run check` compiles this with `tsc --strict`; a change to the document
// that breaks these flows fails CI (.ci/ts-client).
import createClient from "openapi-fetch";
import type { paths } from "./schema";

const api = createClient<paths>({ baseUrl: "http://127.0.0.1:8000" });

export async function residentFlow(wxLoginCode: string) {
  // wx.login()'s code; the server exchanges it with WeChat (jscode2session).
  const login = await api.POST("/v1/auth/wechat/login", { body: { code: wxLoginCode } });
  if (!login.data) throw new Error(login.error?.message ?? "login failed");
  const auth = { Authorization: `Bearer ${login.data.access_token}` };

  const points = await api.GET("/v1/me/points", { headers: auth });
  if (!points.data) throw new Error(points.error?.error_code ?? "no points");
  const total: number = points.data.points;
  const explained = points.data.items.map((item) => `${item.title}: ${item.points}`);

  const records = await api.GET("/v1/me/records", {
    headers: auth, params: { query: { page: 1, page_size: 20 } } });
  const recordIds: number[] = (records.data ?? []).map((record) => record.id);

  const code = await api.POST("/v1/me/verification-tokens", { headers: auth });
  if (!code.data) throw new Error(code.error?.error_code ?? "no code");
  return { total, level: points.data.level, explained, recordIds, code: code.data.token };
}

export async function merchantFlow(staffToken: string, merchantId: number, code: string,
                                   perkId: number) {
  const headers = { Authorization: `Bearer ${staffToken}`, "X-Merchant-Id": String(merchantId) };
  const scan = await api.POST("/v1/merchant/verifications", {
    headers, body: { token: code, perk_id: perkId } });
  if (!scan.data) throw new Error(scan.error?.error_code ?? "scan failed");
  if (!scan.data.eligible) return { granted: false, reasons: scan.data.reasons };

  const grant = await api.POST("/v1/merchant/redemptions", {
    headers: { ...headers, "Idempotency-Key": `grant-${scan.data.id}` },
    body: { verification_id: scan.data.id } });
  if (!grant.data) throw new Error(grant.error?.error_code ?? "grant failed");
  return { granted: grant.data.status === "granted", redeemedAt: grant.data.redeemed_at };
}

export async function departmentFlow(apiKey: string, idNumber: string, name: string) {
  const headers = { "X-API-Key": apiKey };
  const pushed = await api.POST("/v1/dept/records", {
    headers: { ...headers, "Idempotency-Key": "batch-2026-12-01" },
    body: { records: [{ source_ref: "case-2026-001", subject: { id_number: idNumber, name },
                        type: "admin.penalty.general", decided_on: "2026-12-01" }] } });
  if (!pushed.data) throw new Error(pushed.error?.error_code ?? "push failed");
  const rejected = pushed.data.rejected.map((r) => r.source_ref);

  const check = await api.POST("/v1/dept/credit-checks", {
    headers, body: { subject: { id_number: idNumber, name }, purpose: "administrative_license",
                     matter_ref: "2026-许可-001" } });
  if (!check.data) throw new Error(check.error?.error_code ?? "check failed");
  const feedback = await api.POST("/v1/dept/credit-checks/{check_id}/feedback", {
    headers, params: { path: { check_id: check.data.id } },
    body: { action: "normal", note: "信用良好，按正常程序办理" } });
  return { accepted: pushed.data.accepted.length, rejected, level: check.data.level,
           feedbackOk: feedback.response.ok };
}

// Closed sets reach the types: a level, a safety code or an error_code outside the
// document's enums does not compile, and each answer's error_codes are its own.
import type { components } from "./schema";
type Schemas = components["schemas"];
export const best: Schemas["Points"]["level"] = "AAA";
// @ts-expect-error "AAAA" is not a level
export const noSuchLevel: Schemas["Points"]["level"] = "AAAA";
export const green: Schemas["WorkerStatus"]["safety_code"] = "green";
// @ts-expect-error "blue" is not a safety code
export const noSuchCode: Schemas["WorkerStatus"]["safety_code"] = "blue";
// @ts-expect-error "NO_SUCH_CODE" is not an error_code
export const noSuchError: Schemas["Error"]["error_code"] = "NO_SUCH_CODE";
export const dated: Schemas["IncomingRecord"] = {
  source_ref: "case-2026-002", subject: { id_number: "430104199001011230", name: "张三" },
  type: "admin.penalty.minor", decided_on: "2026-12-01", details: { document_no: "No.1" } };

export async function quotaAware(staffToken: string, verificationId: number) {
  const grant = await api.POST("/v1/merchant/redemptions", {
    headers: { Authorization: `Bearer ${staffToken}`, "Idempotency-Key": `grant-${verificationId}` },
    body: { verification_id: verificationId } });
  if (grant.response.status === 409 && grant.error) {
    const code: Schemas["Error"]["error_code"] = grant.error.error_code;
    return code === "QUOTA_EXHAUSTED" ? "gone" : code;
  }
  return grant.data?.status;
}
