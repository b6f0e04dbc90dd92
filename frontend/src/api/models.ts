/** The models a session may pick (LLM_MODELS) and a session's model. */
import { apiRequest } from "./client";

export interface ModelItem {
  name: string;
  provider: string;
  default: boolean;
}

export interface SessionModel {
  model: string;
  default: boolean;
}

export function listModels(): Promise<{
  models: ModelItem[];
  default: string;
}> {
  return apiRequest<{ models: ModelItem[]; default: string }>("/models");
}

export function getSessionModel(sessionId: string): Promise<SessionModel> {
  return apiRequest<SessionModel>(
    `/sessions/${encodeURIComponent(sessionId)}/model`,
  );
}

/** `model: ""` goes back to the default model. */
export function setSessionModel(
  sessionId: string,
  model: string,
): Promise<SessionModel> {
  return apiRequest<SessionModel>(
    `/sessions/${encodeURIComponent(sessionId)}/model`,
    {
      method: "PUT",
      body: { model },
    },
  );
}
