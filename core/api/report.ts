// A patient's report as the regulator reads it (GET /api/v1/reports): the server's row and the console's view.
export interface PatientReport {
  id: number;
  at: string;
  code: string;
  gtin: string | null;
  serial: string | null;
  verdict: string | null;
  note: string | null;
}
