"""Writes the hand-made provider responses of this directory (formats: shared/docs/ems-research.md §3e)."""
import json, datetime as dt, math
from zoneinfo import ZoneInfo
UTC=dt.timezone.utc
B=ZoneInfo("Europe/Berlin")
def day_bounds(y,m,d):
    s=dt.datetime(y,m,d,tzinfo=B).astimezone(UTC)
    e=(dt.datetime(y,m,d,tzinfo=B)+dt.timedelta(days=1)).replace(tzinfo=None)
    e=dt.datetime(e.year,e.month,e.day,tzinfo=B).astimezone(UTC)
    return s,e
def quarters(s,e):
    t=s
    while t<e:
        yield t
        t+=dt.timedelta(minutes=15)
def price(i):  # EUR/MWh, a made-up day shape with a negative midday dip
    return round(90+30*math.sin(i/96*2*math.pi*2)-130*math.exp(-((i-52)/10)**2),2)

# aWATTar DE, 2026-03-29 (23 h day), quarter-hourly
s,e=day_bounds(2026,3,29)
data=[{"start_timestamp":int(t.timestamp()*1000),"end_timestamp":int((t+dt.timedelta(minutes=15)).timestamp()*1000),"marketprice":price(i),"unit":"Eur/MWh"} for i,t in enumerate(quarters(s,e))]
json.dump({"object":"list","data":data,"url":"/de/v1/marketdata"},open("awattar-de-2026-03-29.json","w"),indent=1)

# ENTSO-E A44, 2026-10-25 (25 h day): a PT15M series (A03, positions omitted where unchanged) and a PT60M series
s,e=day_bounds(2026,10,25)
n=int((e-s).total_seconds()//900)
z=lambda t:t.strftime("%Y-%m-%dT%H:%MZ")
pts=[]
prev=None
for i in range(n):
    p=price(i//4*4) if i<40 else price(i)   # hourly steps in the night: positions repeat
    if p!=prev:
        pts.append(f"        <Point><position>{i+1}</position><price.amount>{p}</price.amount></Point>")
    prev=p
hourly=[f"        <Point><position>{h+1}</position><price.amount>{price(h*4)}</price.amount></Point>" for h in range(n//4)]
def series(mrid,res,points,curve,cls):
    return f"""  <TimeSeries>
    <mRID>{mrid}</mRID>
    <auction.type>A01</auction.type>
    <businessType>A62</businessType>
    <in_Domain.mRID codingScheme="A01">10Y1001A1001A82H</in_Domain.mRID>
    <out_Domain.mRID codingScheme="A01">10Y1001A1001A82H</out_Domain.mRID>
    <contract_MarketAgreement.type>A01</contract_MarketAgreement.type>
    <currency_Unit.name>EUR</currency_Unit.name>
    <price_Measure_Unit.name>MWH</price_Measure_Unit.name>
    <curveType>{curve}</curveType>
    <classificationSequence_AttributeInstanceComponent.position>{cls}</classificationSequence_AttributeInstanceComponent.position>
    <Period>
      <timeInterval>
        <start>{z(s)}</start>
        <end>{z(e)}</end>
      </timeInterval>
      <resolution>{res}</resolution>
""" + "\n".join(points) + """
    </Period>
  </TimeSeries>
"""
xml=f"""<?xml version="1.0" encoding="utf-8"?>
<Publication_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3">
  <mRID>gridlet-testdata-1</mRID>
  <revisionNumber>1</revisionNumber>
  <type>A44</type>
  <sender_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450</sender_MarketParticipant.mRID>
  <sender_MarketParticipant.marketRole.type>A32</sender_MarketParticipant.marketRole.type>
  <receiver_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450</receiver_MarketParticipant.mRID>
  <receiver_MarketParticipant.marketRole.type>A33</receiver_MarketParticipant.marketRole.type>
  <createdDateTime>2026-10-24T11:00:00Z</createdDateTime>
  <period.timeInterval>
    <start>{z(s)}</start>
    <end>{z(e)}</end>
  </period.timeInterval>
""" + series(1,"PT15M",pts,"A03",1) + series(2,"PT60M",hourly,"A03",1) + "</Publication_MarketDocument>\n"
open("entsoe-a44-de-lu-2026-10-25.xml","w").write(xml)
open("entsoe-ack-no-data.xml","w").write("""<?xml version="1.0" encoding="utf-8"?>
<Acknowledgement_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0">
  <mRID>gridlet-testdata-2</mRID>
  <createdDateTime>2026-10-24T11:00:00Z</createdDateTime>
  <sender_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450</sender_MarketParticipant.mRID>
  <sender_MarketParticipant.marketRole.type>A32</sender_MarketParticipant.marketRole.type>
  <receiver_MarketParticipant.mRID codingScheme="A01">10X1001A1001A39I</receiver_MarketParticipant.mRID>
  <receiver_MarketParticipant.marketRole.type>A39</receiver_MarketParticipant.marketRole.type>
  <received_MarketDocument.createdDateTime>2026-10-24T11:00:00Z</received_MarketDocument.createdDateTime>
  <Reason>
    <code>999</code>
    <text>No matching data found for Data item Energy Prices [12.1.D] (10Y1001A1001A82H, 10Y1001A1001A82H) and interval 2026-10-24T22:00:00.000Z/2026-10-25T23:00:00.000Z.</text>
  </Reason>
</Acknowledgement_MarketDocument>
""")

# Tibber: today 2026-10-25 (25 h, quarter-hourly) and tomorrow empty
s,e=day_bounds(2026,10,25)
today=[]
for i,t in enumerate(quarters(s,e)):
    energy=round(price(i)/1000,4)
    tax=round(0.2254+energy*0.19,4)
    loc=t.astimezone(B)
    today.append({"total":round(energy+tax,4),"energy":energy,"tax":tax,"startsAt":loc.isoformat(timespec="milliseconds")})
json.dump({"data":{"viewer":{"homes":[{"id":"home-without-subscription","currentSubscription":None},{"id":"96a14971-525a-4420-aae9-e5aedaa129ff","currentSubscription":{"priceInfo":{"current":today[40],"today":today,"tomorrow":[]}}}]}}},open("tibber-2026-10-25.json","w"),indent=1)
json.dump({"errors":[{"message":"Context creation failed: invalid token","locations":[],"extensions":{"code":"UNAUTHENTICATED"}}],"data":None},open("tibber-invalid-token.json","w"),indent=1)

# Energi Data Service DayAheadPrices, DK1 and DK2, 2026-03-29 (Copenhagen has the same 23 h day)
s,e=day_bounds(2026,3,29)
recs=[]
for i,t in enumerate(quarters(s,e)):
    for area,off in (("DK1",0),("DK2",25)):
        eur=round(price(i)+off,2)
        recs.append({"TimeUTC":t.strftime("%Y-%m-%dT%H:%M:%S"),"TimeDK":t.astimezone(ZoneInfo("Europe/Copenhagen")).strftime("%Y-%m-%dT%H:%M:%S"),"PriceArea":area,"DayAheadPriceDKK":round(eur*7.46,2),"DayAheadPriceEUR":eur})
json.dump({"total":len(recs),"filters":"{\"PriceArea\":[\"DK1\",\"DK2\"]}","sort":"TimeUTC","dataset":"DayAheadPrices","records":recs},open("energidataservice-dayaheadprices-2026-03-29.json","w"),indent=1)

# Octopus Agile region C, 2026-01-15 16:00Z .. 2026-01-16 23:00Z, newest first
s=dt.datetime(2026,1,15,23,0,tzinfo=UTC)-dt.timedelta(hours=7)
e=dt.datetime(2026,1,16,23,0,tzinfo=UTC)
res=[]
t=s;i=0
while t<e:
    exc=round(15+12*math.sin(i/48*2*math.pi)+(10 if 32<=i%48<38 else 0),4)
    res.append({"value_exc_vat":exc,"value_inc_vat":round(exc*1.05,4),"valid_from":t.strftime("%Y-%m-%dT%H:%M:%SZ"),"valid_to":(t+dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),"payment_method":None})
    t+=dt.timedelta(minutes=30);i+=1
res.reverse()
json.dump({"count":len(res),"next":None,"previous":None,"results":res},open("octopus-agile-c-2026-01-16.json","w"),indent=1)
