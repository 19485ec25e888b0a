"""The MCP tools: what they fetch from Exact and how the answer is shaped.

Each tool is a plain function (caller, rest, args) -> dict; the server wraps
them with auth, limits, usage and logging. Amounts are numbers, dates ISO 8601.
"""
from models import Connection

from portal.mcp.exact_rest import number, odata_date, odata_string


def list_divisions(caller, rest, **_):
    rows = (Connection.select(Connection.division, Connection.status)
            .where(Connection.user == caller.user_id).order_by(Connection.division))
    return {"divisions": [{"division": int(r.division), "name": "Division %d" % r.division,
                           "status": r.status} for r in rows]}


def get_relations(caller, rest, division, search=None, top=None):
    params = {"$select": "ID,Code,Name,Email,City"}
    if search:
        params["$filter"] = "substringof(%s,Name) eq true" % odata_string(search)
    rows = rest.fetch(caller.connection_id, division, "crm/Accounts", params, top)
    return {"relations": [{"id": r.get("ID"), "code": (r.get("Code") or "").strip(),
                           "name": r.get("Name"), "email": r.get("Email"),
                           "city": r.get("City")} for r in rows]}


def get_sales_invoices(caller, rest, division, top=None, customer=None):
    params = {"$select": "InvoiceID,InvoiceNumber,InvoiceToName,InvoiceDate,AmountDC,"
                         "Currency,Status"}
    if customer:
        params["$filter"] = "substringof(%s,InvoiceToName) eq true" % odata_string(customer)
    rows = rest.fetch(caller.connection_id, division, "salesinvoice/SalesInvoices", params, top)
    statuses = {10: "draft", 20: "open", 50: "processed"}
    return {"invoices": [{"id": r.get("InvoiceID"), "number": r.get("InvoiceNumber"),
                          "customer": r.get("InvoiceToName"),
                          "date": odata_date(r.get("InvoiceDate")),
                          "amount": number(r.get("AmountDC")), "currency": r.get("Currency"),
                          "status": statuses.get(r.get("Status"), str(r.get("Status")))}
                         for r in rows]}


def get_open_receivables(caller, rest, division, top=None):
    rows = rest.fetch(caller.connection_id, division, "read/financial/ReceivablesList", {}, top)
    items = [{"invoice_number": r.get("InvoiceNumber"), "customer": r.get("AccountName"),
              "amount": number(r.get("Amount")), "currency": r.get("CurrencyCode"),
              "invoice_date": odata_date(r.get("InvoiceDate")),
              "due_date": odata_date(r.get("DueDate"))} for r in rows]
    return {"receivables": items, "total": round(sum(i["amount"] or 0 for i in items), 2)}


def get_purchase_invoices(caller, rest, division, top=None):
    rows = rest.fetch(caller.connection_id, division, "purchaseentry/PurchaseEntries", {}, top)
    return {"invoices": [{"id": r.get("EntryID"), "number": r.get("EntryNumber"),
                          "supplier": r.get("SupplierName"), "reference": r.get("YourRef"),
                          "date": odata_date(r.get("InvoiceDate")),
                          "due_date": odata_date(r.get("DueDate")),
                          "amount": number(r.get("AmountDC")), "currency": r.get("Currency")}
                         for r in rows]}


def get_trial_balance(caller, rest, division, year, period, top=None):
    params = {"$filter": "ReportingYear eq %d and ReportingPeriod eq %d" % (int(year), int(period))}
    rows = rest.fetch(caller.connection_id, division, "financial/ReportingBalance", params,
                      top or 100)
    return {"year": year, "period": period,
            "lines": [{"gl_account": r.get("GLAccountCode"),
                       "description": r.get("GLAccountDescription"),
                       "type": r.get("BalanceType"), "debit": number(r.get("AmountDebit")),
                       "credit": number(r.get("AmountCredit")),
                       "balance": number(r.get("Amount"))} for r in rows]}


def get_items(caller, rest, division, search=None, top=None):
    params = {}
    if search:
        params["$filter"] = "substringof(%s,Description) eq true" % odata_string(search)
    rows = rest.fetch(caller.connection_id, division, "logistics/Items", params, top)
    return {"items": [{"id": r.get("ID"), "code": r.get("Code"),
                       "description": r.get("Description"),
                       "sales_price": number(r.get("StandardSalesPrice")),
                       "unit": r.get("Unit")} for r in rows]}


def get_gl_accounts(caller, rest, division, top=None):
    rows = rest.fetch(caller.connection_id, division, "financial/GLAccounts", {}, top)
    return {"gl_accounts": [{"id": r.get("ID"), "code": r.get("Code"),
                             "description": r.get("Description"),
                             "type": r.get("BalanceType")} for r in rows]}
