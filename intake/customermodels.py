"""The customer registry's tables (R1, R2): customers, their domains and contact addresses, and
their support contracts (R4, R24, R25). Re-exported by :mod:`intake.models` with the rest of
the schema."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from intake.modelbase import Base, utcnow


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    company: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    domains: Mapped[list[CustomerDomain]] = relationship(
        back_populates="customer", cascade="all, delete-orphan"
    )
    contacts: Mapped[list[CustomerContact]] = relationship(
        back_populates="customer", cascade="all, delete-orphan"
    )
    contracts: Mapped[list[SupportContract]] = relationship(
        back_populates="customer", cascade="all, delete-orphan"
    )


class CustomerDomain(Base):
    __tablename__ = "customer_domains"
    __table_args__ = (UniqueConstraint("customer_id", "domain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(255), index=True)

    customer: Mapped[Customer] = relationship(back_populates="domains")


class CustomerContact(Base):
    """A registered contact address: the only place answers and license keys go (R10, R15)."""

    __tablename__ = "customer_contacts"
    __table_args__ = (UniqueConstraint("customer_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str | None] = mapped_column(String(255))

    customer: Mapped[Customer] = relationship(back_populates="contacts")


class SupportContract(Base):
    """One support period of a customer for a product/profile (R24, R25, R4 quota)."""

    __tablename__ = "support_contracts"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    profile: Mapped[str] = mapped_column(String(64))
    product: Mapped[str] = mapped_column(String(255), default="")
    kind: Mapped[str] = mapped_column(String(32))
    order_accepted: Mapped[date | None] = mapped_column(Date)
    coverage_from: Mapped[date] = mapped_column(Date)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    incident_quota: Mapped[int | None] = mapped_column(Integer)

    customer: Mapped[Customer] = relationship(back_populates="contracts")
