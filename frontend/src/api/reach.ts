/** The agent's reach: MCP servers, tool rules, secrets, and approving a waiting tool call. */
import { apiRequest } from "./client";

const enc = encodeURIComponent;

export type McpTransport = "stdio" | "http";
export type ToolAction = "allow" | "ask" | "block";

export interface McpServer {
  id: string;
  name: string;
  transport: McpTransport;
  command: string[];
  env: Record<string, string>;
  url: string;
  headers: Record<string, string>;
  enabled: boolean;
  global: boolean;
  created_at: string;
}

export interface McpServerInput {
  name: string;
  transport: McpTransport;
  command?: string[];
  url?: string;
  enabled?: boolean;
}

export interface ToolRule {
  pattern: string;
  action: ToolAction;
}

export interface SecretItem {
  name: string;
  created_at: string;
  updated_at: string;
}

export interface ApprovalDecision {
  tool_call_id: string;
  tool: string;
  status: string;
  turn_id: string;
}

export function listMcpServers(): Promise<McpServer[]> {
  return apiRequest<McpServer[]>("/mcp-servers");
}

export function addMcpServer(input: McpServerInput): Promise<McpServer> {
  return apiRequest<McpServer>("/mcp-servers", { method: "POST", body: input });
}

export function deleteMcpServer(id: string): Promise<null> {
  return apiRequest<null>(`/mcp-servers/${enc(id)}`, { method: "DELETE" });
}

export function getToolRules(): Promise<{
  rules: ToolRule[];
  global: ToolRule[];
}> {
  return apiRequest("/tool-rules");
}

export function setToolRules(
  rules: ToolRule[],
): Promise<{ rules: ToolRule[]; global: ToolRule[] }> {
  return apiRequest("/tool-rules", { method: "PUT", body: { rules } });
}

export function listSecrets(): Promise<SecretItem[]> {
  return apiRequest<SecretItem[]>("/secrets");
}

export function putSecret(name: string, value: string): Promise<SecretItem> {
  return apiRequest<SecretItem>("/secrets", {
    method: "POST",
    body: { name, value },
  });
}

export function deleteSecret(name: string): Promise<null> {
  return apiRequest<null>(`/secrets/${enc(name)}`, { method: "DELETE" });
}

export function getSessionSecrets(
  sessionId: string,
): Promise<{ names: string[] }> {
  return apiRequest(`/sessions/${enc(sessionId)}/secrets`);
}

export function setSessionSecrets(
  sessionId: string,
  names: string[],
): Promise<{ names: string[] }> {
  return apiRequest(`/sessions/${enc(sessionId)}/secrets`, {
    method: "PUT",
    body: { names },
  });
}

export function decideApproval(
  sessionId: string,
  toolCallId: string,
  decision: { approve: boolean; note?: string; always?: boolean },
): Promise<ApprovalDecision> {
  return apiRequest<ApprovalDecision>(
    `/sessions/${enc(sessionId)}/approvals/${enc(toolCallId)}`,
    {
      method: "POST",
      body: decision,
    },
  );
}
