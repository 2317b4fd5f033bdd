// Whether the search field is shown on a phone, where it stays behind the
// list header's magnifier button so the list starts high (e2e `ui`).
// From `md` up the field is always shown.
export const searchUi = $state({ open: false });
